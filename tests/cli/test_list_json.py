"""``list --json`` byte for byte on a seeded catalog: every shape a stored point can take
(files or none, node and provider, data that is internal or collides with a column, a time
stored with microseconds or an offset, text that is not ASCII, a hidden point)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from backup_agent.catalog import open_catalog
from backup_agent.cli.common import to_json
from backup_agent.cli.list import row
from backup_agent.cli.main import main
from backup_agent.store.local import LocalStore

POINTS = [  # id, kind, deployment, taken_at, version, build, node, provider, verified, data
    ("rp-a", "config-backup", "prod", "2026-11-26T10:00:00Z", "38.1", "12345", None, None, 1,
     {"rooms": 3, "passphrase_check": "x", "passphrase_ref": "y", "id": "not this one"}),
    ("rp-b", "snapshot", "prod", "2026-11-26T09:00:00.654321Z", None, None, "mgr01", "hv", 0,
     {"provider_id": "vm-1/snap-7", "verify_failed": {"at": "t", "problems": ["a: size 1 != 2"]}}),
    ("rp-c", "room-export", "lab", "2026-11-26T10:30:00+01:00", "37", None, "", "", 1,
     {"note": "Zürich \u2028 \"q\"", "nested": {"b": [1.5, None, True]}}),
    ("rp-d", "config-backup", "prod", "2026-11-25T23:59:59Z", None, None, None, None, 1, {}),
    ("rp-gone", "config-backup", "prod", "2026-11-27T00:00:00Z", None, None, None, None, 1, {}),
]
FILES = [("rp-a", "backup.tar.enc", "prod/config-backup/rp-a/backup.tar.enc", "ab" * 32, 1000),
         ("rp-c", "vmrs.csv", "lab/room-export/rp-c/vmrs.csv", "cd" * 32, 0),
         ("rp-c", "auditoriums.csv", "lab/room-export/rp-c/auditoriums.csv", "ef" * 32, 7),
         ("rp-c", "rooms.json", "lab/room-export/rp-c/rooms.json", "01" * 32, 123456789)]
EXPECTED = """\
[
  {"id": "rp-c", "kind": "room-export", "deployment": "lab", "taken_at": "2026-11-26T09:30:00Z", \
"version": "37", "build": null, "verified": true, "files": [\
{"name": "auditoriums.csv", "key": "lab/room-export/rp-c/auditoriums.csv", \
"path": "<store>/lab/room-export/rp-c/auditoriums.csv", "sha256": "<ef>", "size": 7}, \
{"name": "rooms.json", "key": "lab/room-export/rp-c/rooms.json", \
"path": "<store>/lab/room-export/rp-c/rooms.json", "sha256": "<01>", "size": 123456789}, \
{"name": "vmrs.csv", "key": "lab/room-export/rp-c/vmrs.csv", \
"path": "<store>/lab/room-export/rp-c/vmrs.csv", "sha256": "<cd>", "size": 0}], \
"note": "Z\\u00fcrich \\u2028 \\"q\\"", "nested": {"b": [1.5, null, true]}, "verify_failed": null},
  {"id": "rp-a", "kind": "config-backup", "deployment": "prod", "taken_at": "2026-11-26T10:00:00Z", \
"version": "38.1", "build": "12345", "verified": true, "files": [\
{"name": "backup.tar.enc", "key": "prod/config-backup/rp-a/backup.tar.enc", \
"path": "<store>/prod/config-backup/rp-a/backup.tar.enc", "sha256": "<ab>", "size": 1000}], "rooms": 3, "verify_failed": null},
  {"id": "rp-b", "kind": "snapshot", "deployment": "prod", "taken_at": "2026-11-26T09:00:00Z", \
"version": null, "build": null, "verified": false, "files": [], "node": "mgr01", "provider": "hv", \
"provider_id": "vm-1/snap-7", "verify_failed": {"at": "t", "problems": ["a: size 1 != 2"]}},
  {"id": "rp-d", "kind": "config-backup", "deployment": "prod", "taken_at": "2026-11-25T23:59:59Z", \
"version": null, "build": null, "verified": true, "files": [], "verify_failed": null}
]
"""


def expected(store: str) -> str:
    text = EXPECTED.replace("<store>", store)
    for digest in ("ab", "cd", "ef", "01"):
        text = text.replace(f"<{digest}>", digest * 32)
    return text


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    var.mkdir()
    open_catalog(var / "catalog.db").close()  # the schema as this code makes it
    with sqlite3.connect(var / "catalog.db") as con:
        con.executemany("INSERT INTO restore_points (id, kind, deployment, taken_at, version, "
                        "build, node, provider, verified, data) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [(*p[:9], json.dumps(p[9])) for p in POINTS])
        con.executemany("INSERT INTO files VALUES (?,?,?,?,?)", FILES)
        con.execute("UPDATE restore_points SET deleted_at='2026-11-27T01:00:00Z' WHERE id='rp-gone'")
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[storage]\npath = "{var}"\n\n[[deployments]]\nname = "prod"\n'
                   'url = "https://mgr.invalid"\npassword_env = "NO_SUCH_PW"\n\n'
                   '[[deployments]]\nname = "lab"\nurl = "https://lab.invalid"\n'
                   'password_env = "NO_SUCH_PW"\n')
    return cfg


def run_list(cfg: Path, *args: str) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["--config", str(cfg), "list", "--json", *args]) == 0
    return out.getvalue()


def test_list_json_is_pinned_byte_for_byte(seeded: Path) -> None:
    store = str((seeded.parent / "var" / "store").resolve())
    assert run_list(seeded) == expected(store)


def test_list_json_is_each_points_to_dict(seeded: Path) -> None:
    """The same records ``RestorePoint.to_dict`` gives (what ``status`` shows), filtered too."""
    var = seeded.parent / "var"
    cat, store = open_catalog(var / "catalog.db"), LocalStore(var / "store")
    try:
        for args, filters in (((), {}), (("-d", "prod"), {"deployment": "prod"}),
                              (("--kind", "snapshot"), {"kind": "snapshot"})):
            points = cat.restore_points(**filters)
            assert run_list(seeded, *args) == to_json([row(rp, store.location) for rp in points]) + "\n"
    finally:
        cat.close()


@pytest.mark.parametrize("taken", [
    "2026-11-26T10:00:00Z", "2026-11-26T10:00:59.9996Z", "2026-11-26T23:59:59.999999Z",
    "2026-11-26T10:00:00.5Z", "2026-11-26T10:00:00.1234567Z", "2026-11-26T10:00:00+00:00",
    "2026-11-26T10:00:00-05:30", "2026-11-26 10:00:00Z", "2024-02-29T00:00:00Z", "0999-01-01T00:00:00Z",
    "2026-02-31T10:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26T10:00:60Z", "2026-11-26T10:00:00.Z",
    "2026-11-26T10:00:00.1aZ", "2026-11-26T10:00:00", "2026-13-01T00:00:00Z", "not a time"])
def test_each_stored_time_is_shown_as_to_dict_shows_it_or_refused_alike(tmp_path: Path,
                                                                         taken: str) -> None:
    """The times SQLite formats for the records are those iso(parse_iso(text)) gives; a text
    that does not parse is refused as the RestorePoint path refuses it."""
    cat = open_catalog(tmp_path / "c.db")
    try:
        with sqlite3.connect(tmp_path / "c.db") as con:
            con.execute("INSERT INTO restore_points (id, kind, deployment, taken_at, verified, data) "
                        "VALUES ('rp', 'config-backup', 'prod', ?, 1, '{}')", (taken,))
        try:
            want = [rp.to_dict() for rp in cat.restore_points()]
        except ValueError as exc:
            with pytest.raises(ValueError, match=re.escape(str(exc))):
                cat.point_records()
            return
        assert cat.point_records() == want
    finally:
        cat.close()


def test_records_written_in_pieces_are_the_same_text() -> None:
    """``--json`` writes a list of records a thousand at a time (list --json at 100,000 points
    held its text twice over): across the pieces' edges the text is one record per line."""
    import json as _json

    from backup_agent.cli.common import _record_pieces, to_json

    for n in (1, 999, 1000, 1001, 2500):
        records = [{"id": f"rp-{i}", "size": i, "name": "zoë", "when": None} for i in range(n)]
        expected = "[\n  " + ",\n  ".join(_json.dumps(r) for r in records) + "\n]"
        assert to_json(records) == "".join(_record_pieces(records, batch=1000)) == expected
        assert _json.loads(expected) == records
