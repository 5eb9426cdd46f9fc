"""Run history is pruned by the retention job: ``[retention.runs]`` (keep_days, keep_last of
each job per deployment), never a run still going or one a restore point names (the run that
made it, or the retention run that removed it); ``prune --dry-run`` shows it, removing nothing."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_agent import config
from backup_agent.catalog import Catalog, Kind, RestorePoint, open_catalog
from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner
from tests.jobs.test_retention import backups_at, with_retention
from tests.jobs.test_snapshots import sim_config

NOW = datetime.now(UTC).replace(microsecond=0)


def old_runs(cat: Catalog, deployment: str, job: str, ages_hours: list[int],
             finish: bool = True) -> list[str]:
    ids = []
    for h in ages_hours:
        run = cat.start_run(deployment, job, NOW - timedelta(hours=h))
        run.item(job, "ok")
        if finish:
            cat.finish_run(run, NOW - timedelta(hours=h) + timedelta(seconds=1))
        ids.append(run.id)
    return ids


def test_prune_runs_keeps_recent_last_of_each_job_running_and_named(tmp_path: Path) -> None:
    cat = open_catalog(tmp_path / "catalog.db")
    watch = old_runs(cat, "prod", "watch", list(range(1, 120 * 24, 12)))  # every 12 h, 120 days
    backup = old_runs(cat, "prod", "backup", list(range(5, 120 * 24, 24)))  # daily
    running = old_runs(cat, "prod", "watch", [110 * 24], finish=False)
    retention = old_runs(cat, "prod", "retention", [24 * d for d in range(92, 100)])
    removed_by = retention[-1]  # the oldest: past both bounds
    lab = old_runs(cat, "lab", "watch", list(range(100 * 24, 101 * 24)))
    cat.add_restore_point(RestorePoint(id="cb-prod-old", kind=Kind.CONFIG_BACKUP, deployment="prod",
                                       taken_at=NOW - timedelta(days=100), run_id=backup[-10]))
    cat.update_data("cb-prod-old", removed_by=removed_by)
    cat.mark_deleted("cb-prod-old", NOW)  # a removed point still names both runs
    cutoff, last = NOW - timedelta(days=90), 5
    ranked = {"watch": watch, "backup": backup, "retention": retention}  # newest first
    expected = {r for job, ids in ranked.items() for i, r in enumerate(ids)
                if i < last or cat.runs("prod", limit=10_000, job=job)[i].started_at >= cutoff}
    expected |= {*running, removed_by, backup[-10]}

    total = len(watch) + len(backup) + len(running) + len(retention)
    dry = cat.prune_runs("prod", cutoff, last, dry_run=True)
    assert (dry.total, dry.removed, dry.referenced) == (total, total - len(expected), 2)
    assert len(cat.runs("prod", limit=10_000)) == total, "a dry run removes nothing"
    done = cat.prune_runs("prod", cutoff, last)
    assert done == dry
    assert {r.id for r in cat.runs("prod", limit=10_000)} == expected
    assert len(cat.runs("lab", limit=10_000)) == len(lab), "another deployment's runs stay"
    cat.close()
    db = sqlite3.connect(tmp_path / "catalog.db")
    orphans = db.execute("SELECT count(*) FROM run_items WHERE run_id NOT IN (SELECT id FROM runs)")
    assert orphans.fetchone()[0] == 0, "a removed run's items go with it"
    db.close()


def test_the_retention_job_prunes_runs_and_dry_run_shows_it(agent: Runner, sim: Simulator,
                                                            tmp_path: Path) -> None:
    cfg = with_retention(sim_config(tmp_path, sim), "[retention]\nkeep_last = 1\n"
                         "[retention.runs]\nkeep_days = 30\nkeep_last = 1\n")
    made = backups_at(cfg, [60, 50, 1])  # each backup run names its restore point
    cat = open_catalog(tmp_path / "var" / "catalog.db")
    old_runs(cat, "prod", "watch", [24 * d for d in range(40, 60)])  # 20 watch runs, 40-59 days
    cat.close()

    code, out, err = agent("--config", str(cfg), "prune", "--dry-run", "--json")
    assert code == 0, err
    history = json.loads(out)[0]["runs"]
    assert history == {"keep_days": 30, "keep_last": 1, "removed": 19, "kept_referenced": 2,
                       "total": 23}, "the old backup runs are named by their points"
    code, out, _ = agent("--config", str(cfg), "prune", "--dry-run")
    assert "run history: would remove 19 of 23 runs" in out

    code, out, err = agent("--config", str(cfg), "prune", "--json")
    assert code == 0, err
    [result] = json.loads(out)
    assert result["runs"]["removed"] == 19
    assert {i["item"]: i["outcome"] for i in result["run"]["items"]}["runs"] == "ok"
    cat = open_catalog(tmp_path / "var" / "catalog.db")
    assert len(cat.runs("prod", limit=100, job="watch")) == 1
    assert len(cat.runs("prod", limit=100, job="backup")) == 3, "each names a restore point"
    assert {rp.run_id for rp in cat.restore_points("prod", "config-backup", deleted=True)} <= \
        {r.id for r in cat.runs("prod", limit=100)}, "removed points still find their runs"
    cat.close()
    code, out, _ = agent("--config", str(cfg), "status", "--no-probe", "--json")
    assert json.loads(out)[0]["last_runs"]["retention"]["outcome"] == "completed"
    assert made[-1] in {p["id"] for p in json.loads(agent("--config", str(cfg), "list", "--json")[1])}


def test_a_runs_table_alone_configures_retention(tmp_path: Path, sim: Simulator) -> None:
    cfg = config.load(with_retention(sim_config(tmp_path, sim), "[retention.runs]\nkeep_days = 7\n"))
    assert cfg.service.retention.configured and cfg.service.retention.runs.keep_days == 7
    assert cfg.service.retention.runs.keep_last == 50, "the default of what is not written"


@pytest.mark.parametrize(("table", "message"), [
    ("[retention.runs]\nkeep_days = 0\n", "retention.runs.keep_days: must be a whole number >= 1"),
    ("[retention.runs]\nkeep_last = true\n", "retention.runs.keep_last: must be a whole number"),
    ("[retention.runs]\nkeep_weeks = 3\n", "retention.runs: unknown key 'keep_weeks'"),
    ("[retention]\nruns = 5\n", "retention.runs: must be a table"),
])
def test_bad_runs_tables_exit_2_naming_the_key(agent: Runner, sim: Simulator, tmp_path: Path,
                                               table: str, message: str) -> None:
    cfg = with_retention(sim_config(tmp_path, sim), table)
    code, _, err = agent("--config", str(cfg), "prune", "--dry-run")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
