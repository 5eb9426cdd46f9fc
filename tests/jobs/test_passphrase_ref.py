"""Each config backup records which passphrase it needs, by reference and fingerprint; plan,
evidence, status and restore refuse a backup whose passphrase the agent no longer has."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSPHRASE, Runner
from tests.jobs.restore_helpers import config_with_nodes, path_number, plan
from tests.reliability.test_secrets_everywhere import _everything_written

NOT_COUNTED = "not counted as a restore point"


def backed_up(agent: Runner, cfg: Path) -> str:
    code, out, err = agent("--config", str(cfg), "backup", "--json")
    assert code == 0, (out, err)
    return str(json.loads(out)["summary"]["config_backup"]["id"])


def catalog_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (tmp_path / "var").glob("catalog.db*"))


def recorded_ref(tmp_path: Path, rp_id: str) -> dict[str, Any]:
    db = sqlite3.connect(tmp_path / "var" / "catalog.db")
    try:
        (data,) = db.execute("SELECT data FROM restore_points WHERE id=?", (rp_id,)).fetchone()
    finally:
        db.close()
    return json.loads(data)["passphrase_ref"]  # type: ignore[no-any-return]


def refused_everywhere(agent: Runner, cfg: Path, rp_id: str, expect: str) -> list[str]:
    """evidence, plan, status and restore all say, in one line, why ``rp_id`` does not count."""
    seen = []
    code, out, err = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert code == 0, err
    point = next(p for p in json.loads(out)["restore_points"] if p["id"] == rp_id)
    reason = point["passphrase"]["reason"]
    assert point["passphrase"]["available"] is False and expect in reason and NOT_COUNTED in reason
    assert "\n" not in reason
    p = plan(agent, cfg, "--failed", "management")
    backup = p["paths"][path_number(p, "restore-backup") - 1]
    assert not backup["ready"] and reason in backup["blockers"], backup
    code, out, err = agent("--config", str(cfg), "status", "--no-probe", "--json")
    assert code == 10, (out, err)
    status = json.loads(out)[0]
    assert reason in status["reasons"] and status["health"] == "degraded"
    code, text, err = agent("--config", str(cfg), "status", "--no-probe")
    assert reason in text
    n = str(backup["number"])
    code, rout, rerr = agent("--config", str(cfg), "restore", "--failed", "management", "--path",
                             n, "--target-url", "https://new-node.example", "--dry-run")
    assert code != 0 and reason in rerr and "Traceback" not in rerr, (rout, rerr)
    seen += [out, err, text, rout, rerr, json.dumps(p)]
    return seen


def test_the_reference_and_fingerprint_are_recorded_never_the_value(
        agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    rp_id = backed_up(agent, cfg)
    ref = recorded_ref(tmp_path, rp_id)
    assert ref["config"] == "deployments.prod.passphrase_file"
    assert ref["file"] == str(tmp_path / "pp") and "env" not in ref
    assert ref["alg"] == "hmac-sha256-scrypt" and len(ref["fingerprint"]) == 64
    assert PASSPHRASE.encode() not in catalog_bytes(tmp_path)
    code, out, _ = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert code == 0
    assert "passphrase" not in next(p for p in json.loads(out)["restore_points"] if p["id"] == rp_id)
    p = plan(agent, cfg, "--failed", "management")
    assert p["paths"][path_number(p, "restore-backup") - 1]["ready"]
    # A second backup with the same passphrase has the same fingerprint (one salt per catalog).
    assert recorded_ref(tmp_path, backed_up(agent, cfg))["fingerprint"] == ref["fingerprint"]


def test_the_passphrase_changed_in_config(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    rp_id = backed_up(agent, cfg)
    (tmp_path / "pp").write_text("An-Other-Passphrase-9")
    seen = refused_everywhere(agent, cfg, rp_id, "deployments.prod.passphrase is now a "
                              "different passphrase")
    assert not any(PASSPHRASE in s or "An-Other-Passphrase-9" in s for s in seen)
    written = _everything_written(tmp_path / "var")  # catalog, store, the agent's own log
    assert b"plan" in written or b"config-backup" in written
    assert PASSPHRASE.encode() not in written and b"An-Other-Passphrase-9" not in written
    # A backup taken with the new one counts; the plan offers it.
    backed_up(agent, cfg)
    p = plan(agent, cfg, "--failed", "management")
    assert p["paths"][path_number(p, "restore-backup") - 1]["ready"]


def test_its_env_var_removed(agent: Runner, sim: Simulator, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEXIP_BACKUP_PASSPHRASE", PASSPHRASE)
    cfg = config_with_nodes(tmp_path, sim)
    cfg.write_text(cfg.read_text().replace(f'passphrase_file = "{tmp_path / "pp"}"',
                                           'passphrase_env = "PEXIP_BACKUP_PASSPHRASE"'))
    rp_id = backed_up(agent, cfg)
    assert recorded_ref(tmp_path, rp_id)["env"] == "PEXIP_BACKUP_PASSPHRASE"
    monkeypatch.delenv("PEXIP_BACKUP_PASSPHRASE")
    seen = refused_everywhere(agent, cfg, rp_id, "environment variable PEXIP_BACKUP_PASSPHRASE "
                              "is not set")
    assert "from env PEXIP_BACKUP_PASSPHRASE (deployments.prod.passphrase_env)" in seen[0] + seen[2]
    assert not any(PASSPHRASE in s for s in seen)


def test_its_file_unreadable(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    rp_id = backed_up(agent, cfg)
    (tmp_path / "pp").unlink()
    (tmp_path / "pp").mkdir()  # unreadable as a file whoever the tests run as (root too)
    seen = refused_everywhere(agent, cfg, rp_id, f"cannot read secret file {tmp_path / 'pp'}")
    assert not any(PASSPHRASE in s for s in seen)
    assert PASSPHRASE.encode() not in catalog_bytes(tmp_path)


def test_a_backup_of_an_older_agent_without_a_reference_still_counts(
        agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    rp_id = backed_up(agent, cfg)
    db = sqlite3.connect(tmp_path / "var" / "catalog.db")
    (data,) = db.execute("SELECT data FROM restore_points WHERE id=?", (rp_id,)).fetchone()
    old = {k: v for k, v in json.loads(data).items() if k != "passphrase_ref"}
    db.execute("UPDATE restore_points SET data=? WHERE id=?", (json.dumps(old), rp_id))
    db.commit()
    db.close()
    (tmp_path / "pp").write_text("An-Other-Passphrase-9")
    code, out, _ = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert code == 0
    assert "passphrase" not in next(p for p in json.loads(out)["restore_points"] if p["id"] == rp_id)
