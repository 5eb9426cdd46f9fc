"""backup-agent restore against the simulator: each path kind end to end, dry run, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, Runner
from tests.jobs.restore_helpers import config_with_nodes, path_number, plan


def _backed_up(agent: Runner, cfg: Path) -> None:
    for job in ("backup", "export"):
        code, _, err = agent("--config", str(cfg), job)
        assert code == 0, err


def test_restore_backup_onto_an_empty_management_node(agent: Runner, sim: Simulator,
                                                       tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    rooms, aliases = sim.state.room_count, sim.state.alias_count
    sim.state.set_management_down()
    with Simulator(SimOptions(empty=True, password=PASSWORD)) as fresh:
        assert fresh.state.room_count == 0
        p = plan(agent, cfg, "--failed", "management")
        n = path_number(p, "restore-backup")
        code, out, err = agent("--config", str(cfg), "restore", "--failed", "management",
                               "--path", str(n), "--target-url", fresh.url, "--yes", "--json")
        assert code == 0, err
        assert json.loads(out)["state"] == "completed"
        assert (fresh.state.room_count, fresh.state.alias_count) == (rooms, aliases)
        assert sim.state.management_up is False, "the old node is never touched"


def test_dry_run_checks_everything_and_changes_nothing(agent: Runner, sim: Simulator,
                                                       tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    with Simulator(SimOptions(empty=True, password=PASSWORD)) as fresh:
        before = (fresh.state.counts(), fresh.state.requests_served)
        code, out, err = agent("--config", str(cfg), "restore", "--failed", "management",
                               "--path", "1", "--target-url", fresh.url, "--dry-run", "--json")
        assert code == 0, err
        report = json.loads(out)
        assert report["ready"] and report["kind"] == "restore-backup"
        whats = " ".join(c["what"] for c in report["checks"])
        assert "hashes right" in whats and "passphrase" in whats and "reachable" in whats
        assert fresh.state.counts() == before[0], "nothing changed on the target"
        assert fresh.state.requests_served > before[1], "but it was asked (reachable, version)"
    code, out, _ = agent("--config", str(cfg), "restore", "--journal")
    assert code == 2, "a dry run journals nothing"


def test_import_rooms_after_rooms_deleted_by_mistake(agent: Runner, sim: Simulator,
                                                     tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    rooms, aliases = sim.state.room_count, sim.state.alias_count
    assert sim.state.delete_rooms(5) == 5
    p = plan(agent, cfg)
    assert p["paths"][0]["kind"] == "import-rooms"
    code, out, err = agent("--config", str(cfg), "restore", "--path", "1", "--yes")
    assert code == 0, err
    assert "5 room(s) re-created" in out and "completed" in out
    assert (sim.state.room_count, sim.state.alias_count) == (rooms, aliases)
    code, out, _ = agent("--config", str(cfg), "restore", "--journal", "--json")
    journal = json.loads(out)
    assert journal["kind"] == "import-rooms" and journal["state"] == "completed"
    assert [s["state"] for s in journal["steps"]] == ["done"] * len(journal["steps"])
    assert all(s["started_at"] and s["finished_at"] for s in journal["steps"])


def test_revert_snapshot_through_the_sim_provider(agent: Runner, sim: Simulator,
                                                  tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    code, _, err = agent("--config", str(cfg), "export")
    assert code == 0, err
    code, _, err = agent("--config", str(cfg), "snapshot", "create", sim.opts.management_name)
    assert code == 0, err
    rooms = sim.state.room_count
    sim.state.delete_rooms(7)
    sim.state.set_management_down()
    p = plan(agent, cfg, "--failed", "management")
    n = path_number(p, "revert-snapshot")
    code, _, err = agent("--config", str(cfg), "restore", "--failed", "management",
                           "--path", str(n), "--yes")
    assert code == 0, err
    assert sim.state.management_up and sim.state.room_count == rooms


def test_redeploy_node_writes_the_deployment_file(agent: Runner, sim: Simulator,
                                                  tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    node = sim.state.worker_status()[1]["name"]
    sim.state.set_node_down(node)
    p = plan(agent, cfg, "--failed", node)
    n = path_number(p, "redeploy-node")
    code, out, err = agent("--config", str(cfg), "restore", "--failed", node, "--path", str(n),
                           "--yes")
    assert code == 0, err
    written = next(line for line in out.splitlines() if "deployment file for" in line)
    xml = Path(written.rsplit(" written to ", 1)[1])
    assert xml.stat().st_mode & 0o777 == 0o600
    for directory in (xml.parent, xml.parent.parent):  # <storage>/restores/<restore id>/
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    assert ElementTree.fromstring(xml.read_bytes()).findtext("name") == node  # noqa: S314
    definition = sim.state.config.find("worker_vm", "name", node)
    assert definition is not None and definition["deployment_type"] == "MANUAL-PROVISION-ONLY"


class _BreaksAtStep:
    """An operator under --yes that takes the Management Node down as step ``n`` begins."""

    def __init__(self, sim: Simulator, n: int) -> None:
        self.sim, self.n, self.lines = sim, n, []  # type: ignore[var-annotated]

    def say(self, line: str) -> None:
        self.lines.append(line)
        if line.startswith(f"Step {self.n}/"):
            self.sim.state.set_management_down()

    def confirm(self, number: int, step: dict[str, Any]) -> bool:
        return True


def test_resume_after_a_step_fails(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    from backup_agent import config as config_mod
    from backup_agent.errors import ApiError
    from backup_agent.jobs import restore as job
    from backup_agent.jobs.env import Env

    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    rooms = sim.state.room_count
    sim.state.delete_rooms(4)
    conf = config_mod.load(cfg)
    dep = conf.deployment()
    env = Env.open(conf)
    try:
        opts = job.RestoreOptions(path=1)
        path = job.choose_path(env, dep, opts)
        assert path["kind"] == "import-rooms" and path["steps"][1]["action"] == "import-rooms"
        with pytest.raises(ApiError):
            job.execute(env, dep, path, opts, _BreaksAtStep(sim, 2))
    finally:
        env.close()
    code, out, _ = agent("--config", str(cfg), "restore", "--journal", "--json")
    first = json.loads(out)
    assert first["state"] == "failed"
    assert [s["state"] for s in first["steps"]] == ["done", "failed", "pending"]
    assert sim.state.room_count == rooms - 4
    sim.state.set_management_up()
    code, out, err = agent("--config", str(cfg), "restore", "--resume", "--yes")
    assert code == 0, err
    assert "Step 1/" not in out and "Step 2/3" in out, "continues at the first step not done"
    assert sim.state.room_count == rooms
    code, out, _ = agent("--config", str(cfg), "restore", "--journal", first["id"], "--json")
    again = json.loads(out)
    assert again["state"] == "completed" and again["id"] == first["id"]
    assert [s["state"] for s in again["steps"]] == ["done", "done", "done"]
    code, _, err = agent("--config", str(cfg), "restore", "--resume", "--yes")
    assert code == 2 and "no unfinished restore" in err
    code, _, err = agent("--config", str(cfg), "restore", "--resume", first["id"], "--yes")
    assert code == 2 and "is completed" in err
    code, _, err = agent("--config", str(cfg), "restore", "--resume", "restore-nope", "--yes")
    assert code == 1 and "no restore 'restore-nope'" in err


def test_manual_steps_need_a_terminal_or_yes(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    sim.state.delete_rooms(2)
    rooms = sim.state.room_count
    code, _, err = agent("--config", str(cfg), "restore", "--path", "1")
    assert code == 2 and "--yes" in err and "nothing was changed" in err
    assert err.count("\n") == 1 and sim.state.room_count == rooms


class _Scripted:
    """An operator that declines manual steps, or interrupts (Ctrl-C) as step ``n`` begins."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.interrupt_at = interrupt_at

    def say(self, line: str) -> None:
        if self.interrupt_at and line.startswith(f"Step {self.interrupt_at}/"):
            raise KeyboardInterrupt

    def confirm(self, number: int, step: dict[str, Any]) -> bool:
        return False


def _walk(cfg: Path, operator: Any) -> None:
    from backup_agent import config as config_mod
    from backup_agent.jobs import restore as job
    from backup_agent.jobs.env import Env

    conf = config_mod.load(cfg)
    env = Env.open(conf)
    try:
        opts = job.RestoreOptions(path=1)
        job.execute(env, conf.deployment(), job.choose_path(env, conf.deployment(), opts), opts,
                    operator)
    finally:
        env.close()


def test_declined_manual_step_stops_and_resume_asks_again(agent: Runner, sim: Simulator,
                                                          tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    rooms = sim.state.room_count
    sim.state.delete_rooms(3)
    _walk(cfg, _Scripted())
    code, out, _ = agent("--config", str(cfg), "restore", "--journal", "--json")
    journal = json.loads(out)
    assert journal["state"] == "interrupted"
    assert [s["state"] for s in journal["steps"]] == ["done", "done", "failed"]
    assert journal["steps"][2]["detail"] == "not confirmed by the operator"
    assert sim.state.room_count == rooms, "the automated steps before it did their work"
    code, out, err = agent("--config", str(cfg), "restore", "--resume", "--yes")
    assert code == 0, err
    assert "Step 3/3" in out and "Step 2/3" not in out


def test_ctrl_c_leaves_a_resumable_restore(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    sim.state.delete_rooms(3)
    with pytest.raises(KeyboardInterrupt):
        _walk(cfg, _Scripted(interrupt_at=2))
    code, out, _ = agent("--config", str(cfg), "restore", "--journal", "--json")
    journal = json.loads(out)
    assert journal["state"] == "interrupted"
    assert [s["state"] for s in journal["steps"]][:2] == ["done", "pending"]
    code, out, err = agent("--config", str(cfg), "restore", "--resume", journal["id"], "--yes")
    assert code == 0, err
    assert "Step 2/3" in out


def test_dry_run_leaves_production_alone(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    sim.state.delete_rooms(3)
    before = sim.state.counts()
    code, out, err = agent("--config", str(cfg), "restore", "--path", "1", "--dry-run")
    assert code == 0, err
    assert "nothing was changed" in out and "[ok   ] step 2: " in out
    assert sim.state.counts() == before


def test_no_secret_in_output_journal_or_files(agent: Runner, sim: Simulator,
                                              tmp_path: Path) -> None:
    from tests.jobs.conftest import PASSPHRASE

    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    node = sim.state.worker_status()[0]["name"]
    seen = []
    seen.append(agent("--config", str(cfg), "restore", "--failed", node, "--path", "1", "--yes",
                      "--json"))
    sim.state.set_management_down()
    with Simulator(SimOptions(empty=True, password=PASSWORD)) as fresh:
        for extra in (["--dry-run"], ["--yes", "--json"]):
            seen.append(agent("--config", str(cfg), "restore", "--failed", "management",
                              "--path", "1", "--target-url", fresh.url, *extra))
        (tmp_path / "pp").write_text("wrong-passphrase-Xy")
        seen.append(agent("--config", str(cfg), "restore", "--failed", "management",
                          "--path", "1", "--target-url", fresh.url, "--yes"))
    seen.append(agent("--config", str(cfg), "restore", "--journal", "--json"))
    assert [code for code, _, _ in seen] == [0, 0, 0, 4, 0]
    text = "".join(out + err for _, out, err in seen)
    files = [p for p in (tmp_path / "var").rglob("*") if p.is_file() and "store" not in p.parts]
    text += "".join(p.read_bytes().decode("utf-8", "replace") for p in files)
    for secret in (PASSWORD, PASSPHRASE, "wrong-passphrase-Xy"):
        assert secret not in text


def test_a_step_action_this_agent_does_not_know_is_refused(agent: Runner, sim: Simulator,
                                                            tmp_path: Path) -> None:
    from backup_agent import config as config_mod
    from backup_agent.errors import NotReadyError
    from backup_agent.jobs import restore as job
    from backup_agent.jobs.env import Env

    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    sim.state.delete_rooms(1)
    conf = config_mod.load(cfg)
    env = Env.open(conf)
    try:
        opts = job.RestoreOptions(path=1)
        path = job.choose_path(env, conf.deployment(), opts)
        path["steps"][1]["action"] = "teleport"
        with pytest.raises(NotReadyError, match="'teleport'"):
            job.execute(env, conf.deployment(), path, opts, _Scripted())
    finally:
        env.close()
    assert agent("--config", str(cfg), "restore", "--journal")[0] == 2, "nothing journalled"


def test_restore_onto_another_build_of_the_release_is_ready_with_a_note(
        agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    """The target says "38.1 (81600.0.0)", the backup version 38.1 build 81522.0.0: the same
    release, so not a blocker (compared as strings, no restore was ever ready without --force)."""
    cfg = config_with_nodes(tmp_path, sim)
    _backed_up(agent, cfg)
    with Simulator(SimOptions(empty=True, password=PASSWORD, build="81600.0.0")) as fresh:
        code, out, err = agent("--config", str(cfg), "restore", "--failed", "management",
                               "--path", "1", "--target-url", fresh.url, "--dry-run", "--json")
        assert code == 0, err
        report = json.loads(out)
        [check] = [c for c in report["checks"] if "release" in c["what"]]
        assert report["ready"] and check["ok"], check
        assert "38.1 (81522.0.0)" in check["what"] and "build 81600.0.0" in check["detail"]
    with Simulator(SimOptions(empty=True, password=PASSWORD, version="39.0")) as other:
        code, out, err = agent("--config", str(cfg), "restore", "--failed", "management",
                               "--path", "1", "--target-url", other.url, "--dry-run", "--json")
        assert code != 0 and "deploy the fresh node at 38.1 (81522.0.0)" in out + err
