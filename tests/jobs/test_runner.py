"""The run frame: an interrupted run is still finished in the catalog, with a reason."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from backup_agent import config
from backup_agent.catalog import Run
from backup_agent.config import Deployment
from backup_agent.jobs.env import Env
from backup_agent.jobs.runner import run_job
from tests.jobs.conftest import write_config


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
