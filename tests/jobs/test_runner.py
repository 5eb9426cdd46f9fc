"""The run frame: lock, outcome, interruption, parallel items and the not-recorded clean-up."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from backup_agent import config
from backup_agent.catalog import Run
from backup_agent.config import Deployment
from backup_agent.errors import CatalogError, IntegrityError, NotReadyError
from backup_agent.jobs.env import Env
from backup_agent.jobs.runner import frame, kept_if_recorded, run_job, run_parallel
from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner, write_config


def test_ctrl_c_mid_run_finishes_the_run_as_interrupted(tmp_path: Path) -> None:
    env = Env.open(config.load(write_config(tmp_path, "http://127.0.0.1:9")))
    dep = env.config.deployment()

    def first(env: Env, dep: Deployment, run: Run, now: datetime) -> None:
        run.item("first", "ok")

    def second(env: Env, dep: Deployment, run: Run, now: datetime) -> None:
        raise KeyboardInterrupt

    def third(env: Env, dep: Deployment, run: Run, now: datetime) -> None:
        raise AssertionError("a step after the interruption ran")

    try:
        with pytest.raises(KeyboardInterrupt):
            run_job(env, dep, "backup", [("first", first), ("second", second), ("third", third)],
                    purpose=("second", "third"))
        [run] = env.catalog.runs()
    finally:
        env.close()
    # The run exists for "second" (its restore point): interrupted before it, it failed.
    assert run.outcome == "failed" and run.finished_at is not None
    assert run.items == {"first": ("ok", None), "second": ("failed", "interrupted"),
                         "third": ("skipped", "not tried: interrupted")}


def test_agent_log_stays_0600_after_rotation(tmp_path: Path) -> None:
    import logging
    import os
    import stat

    from backup_agent.logsetup import attach_file_log

    path = tmp_path / "logs" / "agent.log"
    old = os.umask(0o022)
    handler = attach_file_log(path)
    try:
        assert handler is not None
        log = logging.getLogger("backup_agent.test_rotation")
        log.setLevel(logging.INFO)
        log.info("x" * 3_000_000)
        log.info("y" * 3_000_000)  # past 5 MB: the log rolls over to a new file
    finally:
        os.umask(old)
        logging.getLogger().removeHandler(handler)  # type: ignore[arg-type]
        if handler:
            handler.close()
    assert (tmp_path / "logs" / "agent.log.1").exists()
    for p in (path, tmp_path / "logs" / "agent.log.1"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name


def _env(tmp_path: Path) -> Env:
    return Env.open(config.load(write_config(tmp_path, "http://127.0.0.1:9")))


def _ok(name: str) -> Any:
    def step(env: Env, dep: Deployment, run: Run, now: datetime) -> None:
        run.item(name, "ok")
    return step


def _fails(env: Env, dep: Deployment, run: Run, now: datetime) -> None:
    raise IntegrityError("the download does not match its sha256")


@pytest.mark.parametrize(("inventory", "made", "outcome"), [
    (_ok("inventory"), _ok("config-backup"), "completed"),
    (_ok("inventory"), _fails, "failed"),  # the inventory refresh alone is no backup
    (_fails, _ok("config-backup"), "partially_failed"),  # a backup without its inventory
    (_fails, _fails, "failed"),
])
def test_the_outcome_follows_the_restore_points_the_run_exists_to_make(
        tmp_path: Path, inventory: Any, made: Any, outcome: str) -> None:
    with _env(tmp_path) as env:
        run = run_job(env, env.config.deployment(), "backup",
                      [("inventory", inventory), ("config-backup", made)], purpose=("config-backup",))
    assert run.outcome == outcome


def test_an_error_out_of_the_frame_still_finishes_the_run(tmp_path: Path) -> None:
    """A job refusing half-way (a drill whose plan has no path) leaves no run unfinished."""
    with _env(tmp_path) as env:
        with pytest.raises(NotReadyError), \
                frame(env, env.config.deployment(), "drill", ["drill"], purpose=["drill"]):
            raise NotReadyError("the plan has no path to drill")
        [run] = env.catalog.runs()
    assert run.outcome == "failed" and run.finished_at is not None
    assert run.items == {"drill": ("failed", "the plan has no path to drill")}


def test_a_backup_and_an_export_of_one_deployment_do_not_run_at_once(
        tmp_path: Path, agent: Runner) -> None:
    """One lock per deployment, not per job: the export refuses at once (exit 4) while a backup
    of the same deployment runs, and names what holds it."""
    started, release = threading.Event(), threading.Event()

    def slow(env: Env, dep: Deployment, run: Run, now: datetime) -> None:
        started.set()
        release.wait(10)
        run.item("config-backup", "ok")

    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    with _env(tmp_path) as env:
        t = threading.Thread(target=run_job, args=(env, env.config.deployment(), "backup",
                                                   [("config-backup", slow)]))
        t.start()
        try:
            assert started.wait(10)
            code, _, err = agent("--config", str(cfg), "export")
        finally:
            release.set()
            t.join()
    assert code == 4, err
    assert f"a run of prod is already running (backup, pid {os.getpid()})" in err


def test_parallel_items_interrupted_wait_for_the_running_and_fail_the_rest(tmp_path: Path) -> None:
    """Ctrl-C while items run in parallel: the one running is waited for and recorded (a
    snapshot being taken is not orphaned); those not started fail ``interrupted``."""
    import signal

    started: list[str] = []

    def first() -> str:
        started.append("first")
        time.sleep(0.1)  # the others are queued behind it by now
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, to the main thread waiting on the pool
        time.sleep(0.2)
        return "made"

    def later(name: str) -> Any:
        def work() -> str:
            started.append(name)
            return "made"
        return work

    with _env(tmp_path) as env:
        with pytest.raises(KeyboardInterrupt), \
                frame(env, env.config.deployment(), "snapshot", ["a", "b", "c"], purpose=["a", "b", "c"]) as run:
            run_parallel(run, [("a", first), ("b", later("b")), ("c", later("c"))], limit=1)
        [recorded] = env.catalog.runs()
    assert started == ["first"]
    assert recorded.items == {"a": ("ok", None), "b": ("failed", "interrupted"),
                              "c": ("failed", "interrupted")}
    assert recorded.outcome == "partially_failed"


def test_not_recorded_is_not_kept(tmp_path: Path) -> None:
    """What was written for a restore point the catalog refused is deleted from the store."""
    with _env(tmp_path) as env:
        with pytest.raises(CatalogError), kept_if_recorded(env) as written:
            env.store.put_bytes(written.add("prod/config-backup/x/a.bin"), b"a")
            written.add("prod/config-backup/x/b.bin")  # noted, never written: nothing to undo
            raise CatalogError("database is locked")
        assert env.store.stat("prod/config-backup/x/a.bin") is None


def test_sigterm_ends_a_backup_interrupted_and_recorded(sim: Simulator, tmp_path: Path) -> None:
    """SIGTERM (a service stopping) ends the run as Ctrl-C does: recorded, failed, exit 130."""
    import signal
    import subprocess
    import sys

    from backup_agent.catalog import open_catalog

    cfg = write_config(tmp_path, sim.url)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    sim.opts.latency_ms = 300
    proc = subprocess.Popen([sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg),
                             "backup"], env=env, text=True, stderr=subprocess.PIPE)
    try:
        # The lock says the frame holds it (the catalog is migrated by then; opening it here
        # earlier would race the migration); 0.5 s later, the run is in its first requests.
        lock, deadline = tmp_path / "var" / "locks" / "run-prod.lock", time.monotonic() + 30
        while not (lock.exists() and "backup, pid" in lock.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        sim.opts.latency_ms = 0
    assert proc.returncode == 130, err
    assert "backup-agent: terminated" in err and "Traceback" not in err
    catalog = open_catalog(tmp_path / "var" / "catalog.db")
    try:
        [run] = catalog.runs()
    finally:
        catalog.close()
    assert run.outcome == "failed" and run.finished_at is not None
    assert ("failed", "interrupted") in run.items.values()

