"""``backup-agent snapshot``: create, list, delete, revert through real providers, and bad input."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSWORD, Runner, listing, write_config
from tests.providers.aws_peers import REGION, Peer, moto_server, reset

__all__ = ["moto_server"]  # a session fixture used below
ROOT = Path(__file__).resolve().parents[2]


def sim_config(tmp_path: Path, sim: Simulator, extra_nodes: str = "") -> Path:
    cfg = write_config(tmp_path, sim.url)
    cfg.write_text(cfg.read_text() + f"""
[[deployments.nodes]]
name = "mgr01"
role = "management"
provider = "hv"
vm = "mgr01"
{extra_nodes}
[providers.hv]
type = "sim"
url = "{sim.url}"
password_file = "{tmp_path / 'pw'}"
""")
    return cfg


def test_create_list_revert_delete(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim)
    assert agent("--config", str(cfg), "export")[0] == 0
    code, out, err = agent("--config", str(cfg), "snapshot", "create", "mgr01", "--reason", "pre-upgrade", "--json")
    assert code == 0, err
    [snap] = [p for p in listing(agent, cfg) if p["kind"] == "snapshot"]
    assert snap["node"] == "mgr01" and snap["provider"] == "hv" and snap["provider_id"]
    assert snap["version"] == "38.1" and snap["reason"] == "pre-upgrade"
    rooms = sim.state.room_count
    sim.state.delete_rooms(5)
    code, _, err = agent("--config", str(cfg), "snapshot", "revert", snap["id"])
    assert code == 2 and "--yes" in err, "no terminal and no --yes: refused"
    assert sim.state.room_count == rooms - 5
    code, out, err = agent("--config", str(cfg), "snapshot", "revert", snap["id"], "--yes")
    assert code == 0, err
    assert sim.state.room_count == rooms, "the revert brought the configuration back"
    code, out, _ = agent("--config", str(cfg), "snapshot", "list", "--live", "--json")
    assert json.loads(out)[0]["exists"] is True
    code, out, _ = agent("--config", str(cfg), "snapshot", "delete", snap["id"], "--dry-run", "--json")
    assert code == 0 and json.loads(out)["deleted"] is False
    assert [p["id"] for p in listing(agent, cfg) if p["kind"] == "snapshot"] == [snap["id"]]
    code, out, _ = agent("--config", str(cfg), "snapshot", "delete", snap["id"])
    assert code == 0 and "deleted" in out
    assert [p for p in listing(agent, cfg) if p["kind"] == "snapshot"] == []


def test_missing_vm_fails_the_item(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim, '[[deployments.nodes]]\nname = "ghost"\nrole = "conferencing"\n'
                                    'provider = "hv"\nvm = "no-such-vm"\n')
    code, _, err = agent("--config", str(cfg), "snapshot", "create", "mgr01", "ghost")
    assert code == 3 and "ghost failed" in err and "no-such-vm" in err
    assert [p["node"] for p in listing(agent, cfg) if p["kind"] == "snapshot"] == ["mgr01"]


def test_bad_inputs(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim, '[[deployments.nodes]]\nname = "bare"\nrole = "conferencing"\n')
    code, _, err = agent("--config", str(cfg), "snapshot", "create", "nobody")
    assert code == 2 and "no node 'nobody'" in err
    code, _, err = agent("--config", str(cfg), "snapshot", "create", "bare")
    assert code == 2 and "needs provider and vm" in err and err.count("\n") == 1
    code, _, err = agent("--config", str(cfg), "snapshot", "delete", "snap-nope")
    assert code == 1 and "no restore point" in err
    cfg.write_text(cfg.read_text().replace('type = "sim"', 'type = "openstack"'))
    code, _, err = agent("--config", str(cfg), "snapshot", "create", "mgr01")
    assert code == 2 and "unknown provider type 'openstack'" in err and "vmware" in err
    assert err.count("\n") == 1
    cfg.write_text(cfg.read_text().replace('type = "openstack"', 'type = "sim"'))
    assert [p for p in listing(agent, cfg) if p["kind"] == "snapshot"] == [], "nothing was tried"


@pytest.mark.usefixtures("moto_server")
def test_cli_against_moto_server(moto_server: str, tmp_path: Path, sim: Simulator) -> None:
    """The real CLI in its own process, snapshotting an EC2 instance on moto_server."""
    reset(moto_server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(MOTO_EC2_LOAD_DEFAULT_AMIS="false", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               T_AWS_KEY="testing", PYTHONPATH=str(ROOT))
    instance = Peer("server", {"endpoint_url": moto_server}).make_instance()
    cfg = write_config(tmp_path, sim.url)
    cfg.write_text(cfg.read_text() + f"""
[[deployments.nodes]]
name = "mgr01"
role = "management"
provider = "ec2"
vm = "{instance}"

[providers.ec2]
type = "aws"
region = "{REGION}"
endpoint_url = "{moto_server}"
access_key_id_env = "T_AWS_KEY"
secret_access_key_env = "T_AWS_KEY"
""")

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg), *argv],
                              capture_output=True, text=True, env=env, timeout=120)

    done = cli("snapshot", "create", "mgr01", "--json")
    assert done.returncode == 0, done.stderr
    done = cli("snapshot", "list", "--live", "--json")
    [snap] = json.loads(done.stdout)
    assert snap["exists"] is True and snap["provider_id"].startswith("snapset-")
    assert len(Peer("server", {"endpoint_url": moto_server}).client().describe_snapshots(
        OwnerIds=["self"])["Snapshots"]) == 2, "one restore point covers both volumes"
    done = cli("snapshot", "delete", snap["id"])
    assert done.returncode == 0, done.stderr
    assert "testing" not in done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr


def test_catalog_failure_after_the_snapshot_fails_the_item_and_ends_the_run(
        agent: Runner, sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot is taken, then the catalog is locked by another process: the item fails
    with the reason (naming the provider's id so it can be found), and the run still ends."""
    import sqlite3
    import threading
    import time

    from backup_agent.catalog import sqlite as catalog_mod

    cfg = sim_config(tmp_path, sim)
    assert agent("--config", str(cfg), "list")[0] == 0
    monkeypatch.setattr(catalog_mod, "BUSY_TIMEOUT_MS", 1000)
    sim.opts.snapshot_seconds = 0.25
    db = tmp_path / "var" / "catalog.db"
    held = threading.Event()

    def states() -> list[str]:
        return [s["state"] for s in sim.hypervisor.list()]

    def hold_while_the_snapshot_is_recorded() -> None:
        # Taken once the snapshot exists (the run was started before it), released 1.5 s after
        # it is done: recording it (which waits 1 s) fails, finishing the run (next) does not.
        deadline = time.monotonic() + 10
        while not states() and time.monotonic() < deadline:
            time.sleep(0.005)
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        held.set()
        while states() != ["available"] and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(1.5)
        holder.execute("ROLLBACK")
        holder.close()

    t = threading.Thread(target=hold_while_the_snapshot_is_recorded)
    t.start()
    try:
        code, out, err = agent("--config", str(cfg), "snapshot", "create", "mgr01", "--json")
    finally:
        t.join()
    assert held.is_set()
    # The inventory was recorded, the only snapshot was not: no restore point made, failed.
    assert code == 1, (out, err)
    assert "internal error" not in err
    run = json.loads(out)
    assert run["outcome"] == "failed"
    [item] = [i for i in run["items"] if i["item"] != "inventory"]
    assert item["item"] == "mgr01" and "database is locked" in item["reason"]
    assert "snapshot snapshot-1 of mgr01 was taken" in item["reason"]


def test_parallel_snapshots_share_one_provider(sim: Simulator, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Nodes snapshotted in parallel through one provider open it once: a second, discarded
    connection (a vCenter login, say) would be leaked, never logged out."""
    import threading

    from backup_agent import config
    from backup_agent.jobs import snapshots
    from backup_agent.jobs.env import Env
    from providers import registry

    cfg = sim_config(tmp_path, sim, "".join(
        f'[[deployments.nodes]]\nname = "cn0{i}"\nrole = "conferencing"\nprovider = "hv"\n'
        f'vm = "{w["name"]}"\n' for i, w in enumerate(sim.state.worker_status())))
    made: list[int] = []
    real = registry.create_provider
    gate = threading.Barrier(2, timeout=0.5)

    def counting(*args: object, **kwargs: object) -> object:
        made.append(1)
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()  # give a racing second thread the chance to get here too
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(registry, "create_provider", counting)
    env = Env.open(config.load(cfg))
    try:
        dep = env.config.deployment()
        run = snapshots.take(env, dep, list(dep.nodes), "test", parallel=4)
    finally:
        env.close()
    assert run.outcome == "completed", run.items
    assert len(made) == 1


def test_delete_and_revert_touch_only_the_agents_snapshots(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    """Provider ids are only unique per endpoint (vSphere MoRefs, the simulator's snapshot-N):
    once [providers.hv] points at another endpoint, the catalog's id names someone else's
    snapshot there. delete and revert check the agent's tag first and leave it alone."""
    from backup_agent.sim import SimOptions
    from providers.sim import SimProvider

    cfg = sim_config(tmp_path, sim)
    code, _, err = agent("--config", str(cfg), "snapshot", "create", "mgr01", "--reason", "pre-upgrade")
    assert code == 0, err
    [snap] = [p for p in listing(agent, cfg) if p["kind"] == "snapshot"]
    with (Simulator(SimOptions(rooms=5, password=PASSWORD)) as other,
          SimProvider({"url": other.url, "password": PASSWORD}) as theirs):
        foreign = theirs.create("mgr01", "an admin's own snapshot")  # no agent tags
        assert foreign.id == snap["provider_id"]
        cfg.write_text(cfg.read_text().replace(sim.url, other.url))
        other.state.delete_rooms(2)
        for verb in (["delete", snap["id"]], ["revert", snap["id"], "--yes"]):
            code, _, err = agent("--config", str(cfg), "snapshot", *verb)
            assert code != 0 and "not made by backup-agent" in err, (verb, err)
        assert theirs.get(foreign.id).name == "an admin's own snapshot"
        assert other.state.room_count == 3, "not reverted"
    assert [p["id"] for p in listing(agent, cfg) if p["kind"] == "snapshot"] == [snap["id"]]


def test_a_snapshot_refreshes_the_inventory_and_the_last_contact(agent: Runner, sim: Simulator,
                                                                 tmp_path: Path) -> None:
    """The version recorded is the one running at snapshot time, and a plan made right after
    (Management Node lost) offers the snapshot: it is not newer than the last contact."""
    cfg = sim_config(tmp_path, sim)
    assert agent("--config", str(cfg), "export")[0] == 0
    sim.state.set_version("39.0", "99999.0.0")
    code, out, err = agent("--config", str(cfg), "snapshot", "create", "mgr01", "--json")
    assert code == 0, err
    assert {"item": "inventory", "outcome": "ok", "reason": None} in json.loads(out)["items"]
    [snap] = [p for p in listing(agent, cfg) if p["kind"] == "snapshot"]
    assert snap["version"] == "39.0"
    sim.state.set_management_down("close")
    code, out, err = agent("--config", str(cfg), "plan", "--failed", "management", "--json")
    assert code == 0, err
    assert [p["restore_point"] for p in json.loads(out)["paths"] if p["kind"] == "revert-snapshot"] == [snap["id"]]
    code, out, err = agent("--config", str(cfg), "snapshot", "create", "mgr01", "--json")
    assert code == 0, "the Management Node being down does not stop a snapshot"
    [inv] = [i for i in json.loads(out)["items"] if i["item"] == "inventory"]
    assert inv["outcome"] == "skipped" and "version from the last inventory" in inv["reason"]
