"""Hostile input, generated: the config loader, the evidence loader, API-answer parsing.

Every case ends in the loader's own error (exit 2 for config and evidence, ApiError for an
answer) or a correct result: never another exception, a traceback or a hang. Bounded for CI
(``FUZZ_EXAMPLES``, 150 by default); ``BACKUP_AGENT_LONG=1`` runs 5,000 per property.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backup_agent import config
from backup_agent.errors import AgentError, ApiError, ConfigError, EvidenceError
from backup_agent.infinity import BackupInfo
from backup_agent.planner import make_plan, parse_evidence, to_markdown
from backup_agent.untrusted import untrusted_json
from tests.planner.helpers import backup, days_before, evidence

LONG = os.environ.get("BACKUP_AGENT_LONG", "") not in ("", "0")
EXAMPLES = 5000 if LONG else int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Integers of 4,300+ digits never get this far: the TOML and JSON decoders refuse them.
HOSTILE = st.sampled_from(["", "prod\n", "~nouser-fuzz/x", "a\0b", "https://[::1",
                           "http://u:p@h/", "/dev/zero", "1" * 5000, "inf", "\u202e", 10**4000,
                           float("nan"), float("inf"), -1, 2**63, "0001-01-01T00:00:00Z",
                           "9999-12-31T23:59:59Z", "x" * 10000])
scalars = st.one_of(HOSTILE, HOSTILE, st.none(), st.booleans(), st.integers(),
                    st.floats(allow_nan=True), st.text(max_size=40))
KEYS = sorted({*config.DEPLOYMENT_KEYS, *config.NODE_KEYS, "type", "path", "now", "failed",
               "down_since", "taken_at", "name", "status", "retention", "catalog"})
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)

GOOD_CONFIG: dict[str, Any] = {
    "storage": {"path": "/tmp/backup-agent-fuzz-never-written"},
    "deployments": [{"name": "prod", "url": "https://127.0.0.1:8443",
                     "password_env": "FUZZ_PW", "passphrase_env": "FUZZ_PP", "timeout": 10,
                     "nodes": [{"name": "mgr01", "role": "management", "provider": "lab",
                                "vm": "vm-1"}]}],
    "providers": {"lab": {"type": "sim", "url": "http://127.0.0.1:1", "password_env": "X"}},
}


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """``doc`` with a few of its values (or keys' values) replaced by hostile ones."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)[1:]))
        target = doc
        for part in path[:-1]:
            target = target[part]
        if isinstance(target[path[-1]], dict) and data.draw(st.booleans()):
            target[path[-1]][data.draw(st.sampled_from(KEYS))] = data.draw(values)
        else:
            target[path[-1]] = data.draw(values)
    return doc


@FUZZ
@given(st.data())
def test_config_loader(data: st.DataObject) -> None:
    doc = _mutate(GOOD_CONFIG, data)
    try:
        cfg = config.parse(doc, Path("/tmp/agent.toml"))
    except ConfigError:
        return
    for dep in cfg.deployments:  # what loaded is what a run relies on
        assert config.NAME_RE.fullmatch(dep.name) and 1 <= dep.timeout <= 3600


@FUZZ
@given(st.binary(max_size=300))
def test_config_file_bytes(tmp_path_factory: Any, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "agent.toml"
    path.write_bytes(raw)
    with contextlib.suppress(ConfigError):
        config.load(path)


GOOD_EVIDENCE = evidence(points=[backup("b-1", days_before(1))])


@FUZZ
@given(st.data())
def test_evidence_loader_and_planner(data: st.DataObject) -> None:
    doc = _mutate(GOOD_EVIDENCE, data)
    try:
        plan = make_plan(parse_evidence(doc))
    except EvidenceError:
        return
    text = to_markdown(plan)
    json.dumps(plan.to_dict())
    assert all(not line.startswith("#") or line.startswith(("# Restore", "## ", "### Path"))
               for line in text.splitlines())


@FUZZ
@given(st.text(max_size=200) | st.sampled_from(["[" * 5000, '{"a": NaN}', "1" * 5000,
                                                 '{"a": Infinity}', '"\\ud800"']))
def test_untrusted_json(text: str) -> None:
    with contextlib.suppress(ValueError):
        untrusted_json(text)


GOOD_BACKUP = {"filename": "pexip_backup_x.tar.enc", "date": "2026-11-26T10:00:00",
               "size": 100, "sha256sum": "0" * 64, "version": "38.1", "build": "81522.0.0",
               "resource_uri": "/api/admin/configuration/v1/system_backup/x/"}


@FUZZ
@given(st.data())
def test_backup_listing_entries(data: st.DataObject) -> None:
    obj = _mutate(GOOD_BACKUP, data)
    try:
        info = BackupInfo.from_api(obj, "prod")
    except ApiError:
        return
    assert isinstance(info.size, int) and info.size >= 0
    try:
        from backup_agent.infinity import check_filename
        check_filename(info.filename, "prod")
    except AgentError:
        pass
