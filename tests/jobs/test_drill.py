"""backup-agent drill: each scenario on a simulator built from the catalog; results feed plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner
from tests.jobs.restore_helpers import config_with_nodes


@pytest.fixture
def cfg(tmp_path: Path, sim: Simulator, agent: Runner) -> Path:
    cfg = config_with_nodes(tmp_path, sim)
    for job in ("backup", "export"):
        assert agent("--config", str(cfg), job)[0] == 0
    return cfg


@pytest.mark.parametrize("scenario", ["management-lost", "nodes-lost", "site-lost"])
def test_drill_verifies(agent: Runner, cfg: Path, sim: Simulator, scenario: str) -> None:
    requests = sim.state.requests_served
    code, out, err = agent("--config", str(cfg), "drill", "--scenario", scenario, "--json")
    assert code == 0, (out, err)
    assert sim.state.requests_served == requests, "production is never touched by a drill"
    run = json.loads(out)
    assert run["job"] == "drill" and run["outcome"] == "completed"
    summary = run["summary"]
    v = summary["verification"]
    assert v["verified"]
    kinds = {p["kind"] for p in summary["paths"]}
    if scenario != "nodes-lost":
        assert "restore-backup" in kinds
        assert v["rooms"]["rooms_matching"] == v["rooms"]["rooms_in_export"] == sim.state.room_count
        assert v["rooms"]["aliases_restored"] == sim.state.alias_count
    if scenario != "management-lost":
        assert "redeploy-node" in kinds
        assert sorted(v["deployment_files"]) == sorted(w["name"] for w in sim.state.worker_status())
    assert all(s["seconds"] >= 0 for s in summary["steps"])
    assert all(p["minutes"] > 0 for p in summary["paths"])


def test_drill_results_feed_the_estimates(agent: Runner, cfg: Path) -> None:
    code, out, _ = agent("--config", str(cfg), "drill", "--json")
    assert code == 0
    measured = next(p["minutes"] for p in json.loads(out)["summary"]["paths"]
                    if p["kind"] == "restore-backup")
    code, out, _ = agent("--config", str(cfg), "evidence", "--failed", "management")
    drills = json.loads(out)["drills"]
    assert {"kind": "restore-backup", "minutes": measured} in [
        {"kind": d["kind"], "minutes": d["minutes"]} for d in drills]


def test_drill_that_does_not_verify_exits_1(agent: Runner, cfg: Path, sim: Simulator,
                                            tmp_path: Path) -> None:
    # rooms created after the newest export and backup: a backup that no longer matches
    # the export cannot happen here, so break the backup file instead
    code, out, _ = agent("--config", str(cfg), "list", "--json")
    backup = next(rp for rp in json.loads(out) if rp["kind"] == "config-backup")
    path = Path(backup["files"][0]["path"])
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    code, out, err = agent("--config", str(cfg), "drill")
    assert code == 1, (out, err)
    assert "NOT verified" in out and "sha256 mismatch" in out
    code, out, _ = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert "drills" not in json.loads(out), "a failed drill feeds no estimate"


def test_unknown_scenario(agent: Runner, cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        agent("--config", str(cfg), "drill", "--scenario", "moon-lost")
    assert exited.value.code == 2 and "moon-lost" in capsys.readouterr().err


def test_drill_needs_an_inventory(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    code, _, err = agent("--config", str(cfg), "drill")
    assert code == 4 and "no inventory" in err


def test_drill_without_a_config_backup_rebuilds_from_the_export(
        agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    assert agent("--config", str(cfg), "export")[0] == 0
    code, out, err = agent("--config", str(cfg), "drill", "--json")
    assert code == 0, (out, err)
    summary = json.loads(out)["summary"]
    assert [p["kind"] for p in summary["paths"]] == ["rebuild", "import-rooms"]
    v = summary["verification"]
    assert v["rooms"]["rooms_matching"] == sim.state.room_count and v["rooms"]["extra_count"] == 0
    assert v["import"]["created"] == sim.state.room_count
