"""The audit job reports a checkpoint whose snapshots are past ``checkpoint_max_age_days``
(what ``status`` warns of): a failed ``checkpoint-age`` item, the ``checkpoint-past-age``
alert condition and the ``backup_agent_checkpoints_past_age`` gauge."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from backup_agent import config as config_mod
from backup_agent.catalog import Run
from backup_agent.daemon import conditions, jobs
from backup_agent.daemon.metrics import Metrics
from backup_agent.jobs.env import Env, utcnow
from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner
from tests.jobs.test_snapshots import sim_config

GAUGE = 'backup_agent_checkpoints_past_age{deployment="prod"}'


def _audit(cfg: Path, days_later: float) -> Run:
    config = config_mod.load(cfg)
    later = utcnow() + timedelta(days=days_later)
    with Env.open(config, clock=lambda: later) as env:
        return jobs.audit(env, config.deployment(), timedelta(days=400), later)


def test_the_audit_reports_a_checkpoint_past_its_age(agent: Runner, sim: Simulator,
                                                     tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, sim)
    code, _, err = agent("--config", str(cfg), "checkpoint", "create", "--json")
    assert code == 0, err

    fresh = _audit(cfg, 0)
    assert fresh.items["checkpoint-age"] == ("ok", None)
    assert ("checkpoint-past-age", None, "no unreleased checkpoint's snapshots are past their age") \
        in conditions.from_run(fresh)

    old = _audit(cfg, 15)  # the default checkpoint_max_age_days is 14
    outcome, reason = old.items["checkpoint-age"]
    assert outcome == "failed" and "days old (over 14)" in reason and "checkpoint release" in reason
    assert ("checkpoint-past-age", "active", reason) in conditions.from_run(old)
    m = Metrics(utcnow)
    m.observe(old)
    assert f"{GAUGE} 1.0" in m.render().decode()
    m.observe(fresh)
    assert f"{GAUGE} 0.0" in m.render().decode()
