"""The daemon's adapter: jobs outside the run frame still end with an outcome."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from backup_agent import config
from backup_agent.daemon import jobs
from backup_agent.jobs.env import Env, utcnow
from tests.jobs.conftest import write_config


def test_audit_with_a_missing_secret_skips_the_check_and_ends(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_UNSET_PW", raising=False)
    cfg = write_config(tmp_path, "http://127.0.0.1:9", password_file=None, password_env="T_UNSET_PW")
    env = Env.open(config.load(cfg))
    try:
        dep = env.config.deployment()
        run = jobs.audit(env, dep, timedelta(hours=26), utcnow())
        assert run.finished_at is not None and run.outcome == "completed", "skipped is no failure"
        outcome, reason = run.items["autobackup"]
        assert outcome == "skipped" and "T_UNSET_PW is not set" in str(reason)
        assert run.items["backup-age"] == ("ok", None), "no backup yet, but the daemon just started"
        late = jobs.audit(env, dep, timedelta(hours=26), utcnow() - timedelta(hours=27))
        assert late.items["backup-age"] == ("failed", "no verified config backup yet")
        verified = jobs.verify(env, dep)
        assert verified.outcome == "completed" and verified.items["verify"][0] == "skipped"
        assert all(r.finished_at for r in env.catalog.runs("prod"))
    finally:
        env.close()


def test_a_job_refused_before_its_run_still_leaves_a_failed_run(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from backup_agent.daemon.scheduler import Daemon

    monkeypatch.delenv("T_UNSET_PP", raising=False)
    cfg = write_config(tmp_path, "http://127.0.0.1:9", passphrase_file=None, passphrase_env="T_UNSET_PP")
    daemon = Daemon(config.load(cfg))
    try:
        run = daemon._call(daemon.env, daemon.config.deployment(), "backup")
        assert run is not None and run.outcome == "failed" and run.finished_at
        [(item, reason)] = run.failures()
        assert item == "backup" and "T_UNSET_PP is not set" in reason
        assert [r.id for r in daemon.env.catalog.runs("prod")] == [run.id]
    finally:
        daemon.env.close()
