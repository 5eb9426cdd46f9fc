"""A trigger's reserved run against a command-line run of the same job, in two processes.

The daemon answers a trigger 202 with a run row it made before the job started; the job takes
the row over when it starts. A command-line run of that job meanwhile (another process) sweeps
the runs left without an outcome by a killed process: it must leave the row of a live daemon
alone, and still end the row of a daemon that died (or was replaced) as killed.

The daemon's queued job is held before it starts by its password file being a FIFO: the run
frame reads the deployment's secrets before it takes the run lock or the reserved row, and
``open`` of a FIFO waits for a writer. The command line reads its own (ordinary) copy.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from backup_agent.jobs.runner import KILLED
from backup_agent.sim import Simulator
from tests.daemon.conftest import ROOT, Daemon, wait_for
from tests.jobs.conftest import PASSWORD
from tests.web.apikit import Web, assert_no_leak, start, wait_run


def cli_config(tmp_path: Path) -> Path:
    """The daemon's agent.toml (same storage, same deployment) with its own password file."""
    (tmp_path / "pw-cli").write_text(PASSWORD + "\n")
    cfg = tmp_path / "cli.toml"
    cfg.write_text((tmp_path / "agent.toml").read_text().replace(
        f'"{tmp_path / "pw"}"', f'"{tmp_path / "pw-cli"}"'))
    return cfg


def hold_secret(tmp_path: Path) -> Path:
    """The daemon's password file becomes a FIFO: its next run waits at the secret pre-check."""
    pw = tmp_path / "pw"
    pw.unlink()
    os.mkfifo(pw, 0o600)
    return pw


def release_secret(pw: Path) -> None:
    """The waiting reader gets the password; later reads find an ordinary file."""
    fd = os.open(pw, os.O_RDWR)  # a FIFO opened read-write never waits: the reader goes on
    try:
        regular = pw.with_name("pw-regular")
        regular.write_text(PASSWORD + "\n")
        os.replace(regular, pw)
        os.write(fd, (PASSWORD + "\n").encode())
    finally:
        os.close(fd)


def cli_backup(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg),
                           "backup"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)


def backup_runs(tmp_path: Path) -> dict[str, tuple[str | None, str | None]]:
    """Every backup run: id -> (outcome, the reason of its backup item)."""
    db = sqlite3.connect(tmp_path / "var" / "catalog.db")
    try:
        rows = db.execute("SELECT r.id, r.outcome, i.reason FROM runs r LEFT JOIN run_items i "
                          "ON i.run_id = r.id AND i.item = 'backup' WHERE r.job = 'backup'")
        return {rid: (outcome, reason) for rid, outcome, reason in rows}
    finally:
        db.close()


def reserve(web: Web, tmp_path: Path) -> tuple[str, Path]:
    pw = hold_secret(tmp_path)
    accepted = web.post_json("/api/v1/deployments/prod/backup")
    assert accepted.status == 202, accepted.text
    return accepted.json()["run_id"], pw


def test_a_cli_run_leaves_a_live_daemons_queued_trigger_alone_and_it_completes(
        tmp_path: Path, daemons: list[Daemon], sim: Simulator) -> None:
    web = start(tmp_path, sim.url, daemons)
    cfg = cli_config(tmp_path)
    run_id, pw = reserve(web, tmp_path)
    cli = cli_backup(cfg)
    assert cli.returncode == 0, cli.stderr
    queued = web.get(f"/api/v1/runs/{run_id}").json()
    assert queued["outcome"] is None and queued["finished_at"] is None, queued
    release_secret(pw)
    run = wait_run(web, run_id)
    assert run["outcome"] == "completed" and run["actor"] == "token:ops-team", run
    runs = backup_runs(tmp_path)
    assert len(runs) == 2 and all(o == "completed" for o, _ in runs.values()), runs
    assert "reserved_by" not in run["summary"], "the mark of a reservation ends with it"
    assert web.daemon.stop() == 0
    assert_no_leak(web.daemon.stderr(), cli.stderr)


def test_a_dead_or_replaced_daemons_reservation_ends_killed_at_the_next_cli_run(
        tmp_path: Path, daemons: list[Daemon], sim: Simulator) -> None:
    web = start(tmp_path, sim.url, daemons)
    cfg = cli_config(tmp_path)
    run_id, pw = reserve(web, tmp_path)
    web.daemon.proc.kill()
    web.daemon.proc.wait(10)
    pw.unlink()
    pw.write_text(PASSWORD + "\n")
    successor = start(tmp_path, sim.url, daemons)  # holds the storage lock now, pid and all
    wait_for(lambda: successor.get("/api/v1/deployments").status == 200, what="the new daemon")
    cli = cli_backup(cfg)
    assert cli.returncode == 0, cli.stderr
    runs = backup_runs(tmp_path)
    assert runs[run_id] == ("failed", KILLED), runs
    assert [o for rid, (o, _) in runs.items() if rid != run_id] == ["completed"], runs
    assert successor.daemon.stop() == 0


def test_the_live_daemons_mark_is_seen_from_its_own_process_too(tmp_path: Path) -> None:
    """The in-process case: a scheduled run of the daemon meets its own queued trigger."""
    from backup_agent.daemon.process import live_daemon, storage_lock

    assert live_daemon(tmp_path) is None, "no lock file yet"
    with storage_lock(tmp_path) as mark:
        assert live_daemon(tmp_path) == mark and mark.split()[0] == str(os.getpid())
    assert live_daemon(tmp_path) is None, "released with its holder"


def test_a_queued_trigger_meeting_a_cli_run_ends_not_started_and_triggers_meanwhile_are_409(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    """The CLI run holds the deployment: the queued trigger's job is refused at its lock and
    says so in its own row; a trigger meanwhile answers 409 with the run that holds it."""
    from backup_agent.sim import SimOptions

    with Simulator(SimOptions(rooms=5, conferencing_nodes=1, password=PASSWORD,
                              latency_ms=800)) as slow:  # the CLI's backup: several seconds
        web = start(tmp_path, slow.url, daemons)
        cfg = cli_config(tmp_path)
        run_id, pw = reserve(web, tmp_path)
        cli = subprocess.Popen([sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg),
                                "backup"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        try:
            cli_run = wait_for(lambda: next(iter(set(backup_runs(tmp_path)) - {run_id}), None),
                               what="the CLI's run")
            busy = web.post_json("/api/v1/deployments/prod/export")
            assert busy.status == 409 and busy.json()["run_id"] == run_id, "the queued trigger"
            release_secret(pw)
            run = wait_run(web, run_id)
            [reason] = [i["reason"] for i in run["items"]]
            assert run["outcome"] == "failed" and reason.startswith("not started:"), run
            assert "already running" in reason, reason
            # the trigger's own row is released just after its outcome is written
            busy = wait_for(lambda: (a := web.post_json("/api/v1/deployments/prod/export"))
                            .json().get("run_id") != run_id and a, what="the trigger released")
            assert busy.status == 409 and busy.json()["run_id"] == cli_run, busy.text
            assert backup_runs(tmp_path)[cli_run][0] is None, "all of it while the CLI ran"
            _, err = cli.communicate(timeout=60)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.communicate()
        assert cli.returncode == 0, err
        assert backup_runs(tmp_path)[cli_run][0] == "completed"
        assert web.daemon.stop() == 0
