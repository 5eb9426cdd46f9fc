"""``backup-agent checkpoint``: the pre-upgrade checkpoint against the simulator over HTTP,
snapshots through the ``sim`` provider, faults steered through the simulator's control API."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from backup_agent import config as config_mod
from backup_agent.jobs import checkpoint
from backup_agent.jobs.env import Env, utcnow
from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSWORD, Runner, listing, short_sleep
from tests.jobs.test_snapshots import sim_config


def control(sim: Simulator, path: str, body: dict[str, Any] | None = None,
            method: str = "POST") -> Any:
    """The simulator's control API, over HTTP as a separate process would steer it."""
    r = requests.request(method, f"{sim.url}/_sim/{path}", json=body or {},
                         auth=("admin", PASSWORD), timeout=10)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def workers(sim: Simulator) -> list[dict[str, Any]]:
    r = requests.get(f"{sim.url}/api/admin/configuration/v1/worker_vm/", auth=("admin", PASSWORD),
                     timeout=10)
    return sorted(r.json()["objects"], key=lambda w: w["name"])


def opt_in(names: list[str]) -> str:
    return "".join(f'[[deployments.nodes]]\nname = "{n}"\nrole = "conferencing"\nprovider = "hv"\n'
                   f'vm = "{n}"\ncheckpoint_snapshot = true\n' for n in names)


def create(agent: Runner, cfg: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = agent("--config", str(cfg), "checkpoint", "create", "--json", *args)
    assert "Traceback" not in err
    return code, json.loads(out), err


def hypervisor_snapshots(sim: Simulator) -> list[dict[str, Any]]:
    return list(control(sim, "hypervisor/snapshots", method="GET")["snapshots"])


def test_a_ready_checkpoint_is_released_only_after_the_upgrade(agent: Runner, sim: Simulator,
                                                                tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim)
    code, c, err = create(agent, cfg, "--target-version", "39.1")
    assert code == 0, err
    assert c["ready"] is True and c["reasons"] == [] and c["outcome"] == "completed"
    assert [g["gate"] for g in c["gates"] if g["passed"]] == list(checkpoint.GATES)
    assert {p["kind"] for p in c["parts"]} == {"inventory", "config-backup", "room-export", "snapshot"}
    assert all(p["verified"] for p in c["parts"])
    assert c["version_before"] == "38.1 (81522.0.0)" and c["target_version"] == "39.1"
    assert any("redeployed" in a and "not reverted" in a for a in c["advice"])
    [snap] = [p for p in c["parts"] if p["kind"] == "snapshot"]
    assert snap["node"] == "mgr01" and len(hypervisor_snapshots(sim)) == 1
    [ckpt] = [p for p in listing(agent, cfg) if p["kind"] == "checkpoint"]
    assert ckpt["id"] == c["id"] and ckpt["ready"] is True
    [cb] = [p for p in listing(agent, cfg) if p["kind"] == "config-backup"]
    assert cb["checkpoint"] == c["id"] and cb["released"] is False, "what retention reads"
    code, out, _ = agent("--config", str(cfg), "checkpoint", "list")
    assert code == 0 and c["id"] in out and "39.1" in out
    code, out, _ = agent("--config", str(cfg), "checkpoint", "show", c["id"])
    assert code == 0 and "READY to upgrade to 39.1" in out and "pass" in out
    with Env.open(config_mod.load(cfg)) as env:
        assert {p["id"] for p in c["parts"]} | {c["id"]} == checkpoint.protected_ids(env.catalog, "prod")

    code, _, err = agent("--config", str(cfg), "checkpoint", "release", c["id"])
    assert code == 4 and "not released" in err and "not the target 39.1" in err
    assert err.count("\n") == 1
    code, out, err = agent("--config", str(cfg), "checkpoint", "release", c["id"], "--dry-run",
                           "--force", "--json")
    assert code == 0, err
    assert [s["id"] for s in json.loads(out)["would_delete"]] == [snap["id"]]
    assert len(hypervisor_snapshots(sim)) == 1, "a dry run deletes nothing"

    control(sim, "version", {"version": "39.1", "build": "82000.0.0"})
    code, out, err = agent("--config", str(cfg), "checkpoint", "release", c["id"])
    assert code == 0, err
    assert f"deleted {snap['id']}" in out and "released" in out
    assert hypervisor_snapshots(sim) == []
    assert [p for p in listing(agent, cfg) if p["kind"] == "snapshot"] == []
    [cb] = [p for p in listing(agent, cfg) if p["kind"] == "config-backup"]
    assert cb["released"] is True
    with Env.open(config_mod.load(cfg)) as env:
        assert checkpoint.protected_ids(env.catalog, "prod") == set(), "normal retention again"
    code, out, _ = agent("--config", str(cfg), "checkpoint", "release", c["id"])
    assert code == 0 and "was released at" in out


def test_a_node_out_of_sync_is_not_ready_until_waived(agent: Runner, sim: Simulator,
                                                      tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim)
    node = workers(sim)[0]
    control(sim, "alarms", {"name": "configuration_sync_failure", "node": node["address"]})
    code, c, err = create(agent, cfg)
    assert code == 1 and c["ready"] is False
    [gate] = [g for g in c["gates"] if g["gate"] == "nodes"]
    assert not gate["passed"] and node["name"] in gate["reason"] and "sync" in gate["reason"]
    assert c["parts"] == [] and c["outcome"] == "failed"
    assert "not ready: gate nodes failed" in err and hypervisor_snapshots(sim) == []
    assert agent("--config", str(cfg), "verify")[0] == 0
    [ckpt] = [p for p in listing(agent, cfg) if p["kind"] == "checkpoint"]
    assert ckpt["verified"] is False, "verify does not make a checkpoint that is not ready verified"
    code, c, err = create(agent, cfg, "--waive", "nodes")
    assert code == 0, err
    assert c["ready"] is True and c["waived"] == ["nodes"]
    code, out, _ = agent("--config", str(cfg), "checkpoint", "show", c["id"], "--json")
    [gate] = [g for g in json.loads(out)["gates"] if g["gate"] == "nodes"]
    assert gate["waived"] is True and node["name"] in gate["reason"], "the waiver is recorded"


def test_a_critical_alarm_is_not_ready(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim)
    control(sim, "alarms", {"name": "disk_failure", "level": "critical"})
    code, c, err = create(agent, cfg)
    assert code == 1
    [gate] = [g for g in c["gates"] if g["gate"] == "alarms"]
    assert not gate["passed"] and "disk_failure" in gate["reason"]
    assert "gate alarms failed" in err
    code, _, err = agent("--config", str(cfg), "checkpoint", "create", "--waive", "nope")
    assert code == 2 and "no such gate" in err and "licence" in err


def test_a_failed_snapshot_of_three_keeps_the_others(agent: Runner, sim: Simulator,
                                                     tmp_path: Path) -> None:
    names = [w["name"] for w in workers(sim)][:2]
    cfg = sim_config(tmp_path, sim, opt_in(names))
    control(sim, "hypervisor/fail_next", {"count": 1, "message": "the datastore is full"})
    code, c, err = create(agent, cfg)
    assert code == 1 and c["ready"] is False and c["outcome"] == "partially_failed"
    snaps = [p for p in c["parts"] if p["kind"] == "snapshot"]
    failed = [i for i in c["items"] if i["item"].startswith("snapshot:") and i["outcome"] == "failed"]
    assert len(snaps) == 2 and len(failed) == 1 and "datastore is full" in failed[0]["reason"]
    assert len(hypervisor_snapshots(sim)) == 2, "the two taken are kept"
    assert {p["id"] for p in listing(agent, cfg) if p["kind"] == "snapshot"} == {s["id"] for s in snaps}
    assert any("snapshotted as configured" in a for a in c["advice"])
    assert "datastore is full" in err


def test_the_management_node_dropping_mid_checkpoint(sim: Simulator, tmp_path: Path) -> None:
    cfg = config_mod.load(sim_config(tmp_path, sim))

    def progress(label: str) -> None:  # the backup download starts: the node goes away
        control(sim, "management/down", {"mode": "close"})

    with Env.open(cfg, progress=progress, sleep=short_sleep) as env:
        run = checkpoint.create(env, cfg.deployment())
    c = run.summary["checkpoint"]
    assert c["ready"] is False and run.outcome == "partially_failed"
    assert run.items["config-backup"][0] == "failed"
    assert run.items["room-export"][0] == "skipped"
    assert [p["node"] for p in c["parts"] if p["kind"] == "snapshot"] == ["mgr01"]
    assert any(r.startswith("config-backup:") for r in c["reasons"])
    assert len(hypervisor_snapshots(sim)) == 1, "what was taken is kept"


def test_a_second_checkpoint_is_refused_with_the_running_ones_id(agent: Runner, sim: Simulator,
                                                                 tmp_path: Path) -> None:
    path = sim_config(tmp_path, sim)
    cfg = config_mod.load(path)
    control(sim, "options", {"snapshot_seconds": 2.0})
    marker = cfg.storage_path / "locks" / "checkpoint-prod.running"
    results: list[Any] = []

    def first() -> None:
        with Env.open(cfg, sleep=short_sleep) as env:
            results.append(checkpoint.create(env, cfg.deployment()))

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    running = marker.read_text()
    code, _, err = agent("--config", str(path), "checkpoint", "create")
    thread.join(60)
    assert code == 4 and f"checkpoint {running} of prod is already running" in err
    assert results[0].summary["checkpoint"]["id"] == running


def test_unknown_ids_and_a_deployment_without_snapshots(agent: Runner, sim: Simulator,
                                                        cfg: Path) -> None:
    for verb in ("show", "release"):
        code, out, err = agent("--config", str(cfg), "checkpoint", verb, "ckpt-nope")
        assert code == 1 and "no restore point 'ckpt-nope'" in err and err.count("\n") == 1
    code, _, err = agent("--config", str(cfg), "checkpoint", "create", "--target-version", "x.y")
    assert code == 2 and "is not a version" in err
    code, out, err = agent("--config", str(cfg), "pre-upgrade")
    assert code == 0, err
    assert "READY" in out and "the config backup cb-prod-" in out and "is the restore point" in out
    code, _, err = agent("--config", str(cfg), "checkpoint", "show",
                         next(p["id"] for p in listing(agent, cfg) if p["kind"] == "inventory"))
    assert code == 2 and "not a checkpoint" in err


def test_status_warns_of_a_checkpoint_kept_too_long(agent: Runner, sim: Simulator,
                                                    tmp_path: Path) -> None:
    path = sim_config(tmp_path, sim)
    cfg = config_mod.load(path)
    with Env.open(cfg, clock=lambda: utcnow() - timedelta(days=15), sleep=short_sleep) as env:
        run = checkpoint.create(env, cfg.deployment(), waive=["nodes"])
    ckpt_id = run.summary["checkpoint"]["id"]
    _, out, _ = agent("--config", str(path), "status", "--json")
    status = json.loads(out)
    status = status[0] if isinstance(status, list) else status
    assert any(ckpt_id in w and "checkpoint release" in w for w in status["warnings"])
    _, out, _ = agent("--config", str(path), "status")
    assert f"WARNING: checkpoint {ckpt_id}: its snapshots" in out
    with Env.open(cfg) as env:
        assert checkpoint.age_warnings(env, cfg.deployment(), utcnow() - timedelta(days=2)) == [], "13 days: no warning"


def gate_of(c: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in c["gates"] if g["gate"] == name)


def test_each_gate_fails_with_its_reason(agent: Runner, sim: Simulator, tmp_path: Path,
                                         monkeypatch: Any) -> None:
    """An upgrade running, an expired licence, a VM the provider does not know, a store
    without room, and the Management Node down: each gate fails, named, and nothing is taken."""
    cfg = sim_config(tmp_path, sim)
    control(sim, "upgrade", {"status": "IN_PROGRESS"})
    control(sim, "licence", {"expires_in_days": -3})
    code, c, _ = create(agent, cfg)
    assert code == 1 and "upgrade_status IN_PROGRESS" in gate_of(c, "upgrade")["reason"]
    assert "expired on" in gate_of(c, "licence")["reason"] and c["parts"] == []
    control(sim, "upgrade", {"status": "IDLE"})
    code, c, _ = create(agent, cfg, "--waive", "licence")
    assert code == 0 and c["waived"] == ["licence"]

    from backup_agent.jobs import checkpoint_gates
    monkeypatch.setattr(checkpoint_gates, "STORAGE_FLOOR", 1 << 62)
    cfg.write_text(cfg.read_text().replace('vm = "mgr01"', 'vm = "no-such-vm"'))
    code, c, _ = create(agent, cfg, "--waive", "licence")
    assert code == 1 and "bytes free in the store" in gate_of(c, "storage")["reason"]
    assert "no-such-vm" in gate_of(c, "providers")["reason"]
    control(sim, "management/down", {"mode": "503"})
    code, c, _ = create(agent, cfg)
    assert code == 1 and not gate_of(c, "api")["passed"]
    assert gate_of(c, "nodes")["reason"].startswith("not checked")
    assert c["version_before"] is not None, "from the last inventory"
