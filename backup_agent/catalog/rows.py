"""The SQLite catalog's rows made into records: ``list --json``'s straight from the rows.

``list --json`` at 10,000 restore points spent most of its time making a RestorePoint, its
FileRecords and a datetime per row, then a dict of each again; these are the same dicts
(:meth:`RestorePoint.to_dict`, pinned by tests/cli/test_list_json.py) made in one step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from backup_agent.catalog.records import INTERNAL_DATA, KINDS
from backup_agent.timefmt import iso, parse_iso

# The point's columns ``point_records`` reads: the JSON's own, then ``taken_at`` as ``iso``
# formats it when SQLite can say so (in C, not a datetime per row): a time in UTC with a ``Z``,
# to the second or with a fraction of digits (cut off, as iso does), that is a real time (its
# round trip through julianday is itself: not Feb 31, not 24:00; a fraction that rounds up to
# the next second goes the slow way too). Else NULL: parsed and formatted in Python, which
# refuses what it refused before.
_ISO_TEXT = ("CASE WHEN taken_at >= '1000' AND (taken_at GLOB '????-??-??T??:??:??Z' OR "
             "(taken_at GLOB '????-??-??T??:??:??.[0-9]*Z' AND "
             "substr(taken_at, 21, length(taken_at) - 21) NOT GLOB '*[^0-9]*')) AND "
             "strftime('%Y-%m-%dT%H:%M:%S', julianday(taken_at)) IS substr(taken_at, 1, 19) "
             "THEN substr(taken_at, 1, 19) || 'Z' END")
RECORD_COLUMNS = ("id, kind, deployment, taken_at, version, build, node, provider, verified, "
                  f"data, {_ISO_TEXT}")
_KIND_VALUES = frozenset(KINDS)


def point_records(rows: Sequence[tuple[Any, ...]], file_rows: Sequence[tuple[Any, ...]],
                  locate: Callable[[str], str] | None) -> list[dict[str, Any]]:
    """Each row of ``RECORD_COLUMNS`` as ``RestorePoint.to_dict(locate)`` makes it, with its
    files (``file_rows``: point id, name, key, sha256, size, in each point's order)."""
    files: dict[str, list[dict[str, Any]]] = {r[0]: [] for r in rows}
    for rp_id, name, key, sha256, size in file_rows:
        files[rp_id].append({"name": name, "key": key, "path": locate(key) if locate else key,
                             "sha256": sha256, "size": size})
    out = []
    for r, data in zip(rows, decode_all([r[9] for r in rows]), strict=True):
        rp_id, kind, node, provider = r[0], r[1], r[6], r[7]
        if kind not in _KIND_VALUES:
            raise ValueError(f"unknown restore point kind {kind}")
        rec = {"id": rp_id, "kind": kind, "deployment": r[2],
               "taken_at": r[10] or iso(parse_iso(r[3])), "version": r[4],
               "build": r[5], "verified": bool(r[8]), "files": files[rp_id]}
        if node:
            rec["node"] = node
        if provider:
            rec["provider"] = provider
        for k, v in data.items():  # keys are unique: checking rec as it grows is to_dict's test
            if k not in rec and k not in INTERNAL_DATA:
                rec[k] = v
        out.append(rec)
    return out


def decode_all(texts: list[str]) -> list[Any]:
    """Each of ``texts`` (JSON the catalog wrote) decoded, in one call to the decoder: 10,000
    calls of ``json.loads`` cost more than the decoding itself."""
    try:
        decoded = json.loads("[" + ",".join(texts) + "]")
    except ValueError:  # one of them is not JSON: decode each, so the error is that one's
        return [json.loads(t) for t in texts]
    if len(decoded) != len(texts):  # "1, 2" as one text would shift the others
        return [json.loads(t) for t in texts]
    return list(decoded)
