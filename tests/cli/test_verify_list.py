"""``verify`` through the service layer, and ``list`` showing a restore point that failed it."""

from __future__ import annotations

import json
from pathlib import Path

from backup_agent import config as config_mod
from backup_agent.jobs.env import Env
from backup_agent.service.verify import verify
from tests.jobs.conftest import Runner, agent, cfg, listing, sim

__all__ = ["agent", "cfg", "sim"]  # fixtures used below


def test_list_shows_a_failed_verify(agent: Runner, cfg: Path) -> None:
    assert agent("--config", str(cfg), "export")[0] == 0
    [rp] = [p for p in listing(agent, cfg) if p["kind"] == "room-export"]
    assert rp["verify_failed"] is None
    code, out, _ = agent("--config", str(cfg), "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert "VERIFY" in header and all(" ok " in r for r in rows)
    Path(rp["files"][0]["path"]).write_text("tampered")
    assert agent("--config", str(cfg), "verify")[0] == 1
    [bad] = [p for p in listing(agent, cfg) if p["id"] == rp["id"]]
    assert bad["verified"] is False
    assert bad["verify_failed"]["problems"] == [f"{rp['files'][0]['name']}: size 8 != {rp['files'][0]['size']}"]
    code, out, _ = agent("--config", str(cfg), "list")
    assert code == 0
    [line] = [r for r in out.splitlines() if r.startswith(rp["id"])]
    assert " FAILED " in line
    log = (cfg.parent / "var" / "logs" / "agent.log").read_text()
    assert f"restore point {rp['id']} failed verify" in log


def test_verify_service_uses_the_env_and_clears_a_repaired_point(agent: Runner, cfg: Path) -> None:
    assert agent("--config", str(cfg), "export")[0] == 0
    [rp] = [p for p in listing(agent, cfg) if p["kind"] == "room-export"]
    path = Path(rp["files"][0]["path"])
    good = path.read_bytes()
    path.write_text("tampered")
    env = Env.open(config_mod.load(cfg))
    try:
        results = {r.id: r for r in verify(env, "prod")}
        assert not results[rp["id"]].ok
        path.write_bytes(good)
        assert all(r.ok for r in verify(env))
        again = env.catalog.restore_point(rp["id"])
        assert again.verified and again.data.get("verify_failed") is None
    finally:
        env.close()
    code, out, _ = agent("--config", str(cfg), "verify", "--json")
    assert code == 0 and {r["deployment"] for r in json.loads(out)} == {"prod"}
