"""Evidence through the API keeps the drill history while the daemon's watch runs pile up."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backup_agent.sim import Simulator
from tests.daemon.conftest import Daemon
from tests.web.apikit import VIEWER, start


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def watch_runs(db: sqlite3.Connection, now: datetime, count: int) -> None:
    """``count`` completed watch runs, one every 5 minutes back from ``now``."""
    db.executemany("INSERT INTO runs (id, deployment, job, started_at, finished_at, outcome, actor) "
                   "VALUES (?,?,?,?,?,'completed','schedule')",
                   [(f"run-watch-prod-{i}", "prod", "watch", iso(now - timedelta(minutes=5 * i)),
                     iso(now - timedelta(minutes=5 * i))) for i in range(count)])


def test_a_drill_stays_in_the_evidence_under_a_day_of_watch_runs(sim: Simulator, tmp_path: Path,
                                                                 daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    now = datetime.now(UTC).replace(microsecond=0)

    drill_at = now - timedelta(days=2)
    summary = {"paths": [{"kind": "restore-backup", "minutes": 41.5}]}
    with sqlite3.connect(tmp_path / "var" / "catalog.db") as db:
        db.execute("INSERT INTO runs (id, deployment, job, started_at, finished_at, outcome, summary, actor) "
                   "VALUES (?,?,?,?,?,?,?,?)", ("run-drill-prod-1", "prod", "drill", iso(drill_at),
                                                iso(drill_at), "completed", json.dumps(summary), "cli:ops"))
        watch_runs(db, now, 576)  # two days of a watch every 5 minutes, all newer than the drill
        db.execute("INSERT INTO contacts (deployment, last_contact) VALUES ('prod', ?)",
                   (iso(now - timedelta(minutes=3)),))
    answer = web.get("/api/v1/deployments/prod/evidence?failed=management&probe=false", token=VIEWER)
    assert answer.status == 200, answer.text
    evidence = answer.json()
    assert evidence["drills"] == [{"kind": "restore-backup", "minutes": 41.5, "at": iso(drill_at)}]
    plan = web.get("/api/v1/deployments/prod/plan?failed=management&probe=false", token=VIEWER)
    assert plan.status == 200


def test_a_failed_backup_stays_in_the_status_under_a_day_of_watch_runs(sim: Simulator, tmp_path: Path,
                                                                       daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    now = datetime.now(UTC).replace(microsecond=0)

    failed_at = now - timedelta(hours=10)
    with sqlite3.connect(tmp_path / "var" / "catalog.db") as db:
        db.execute("INSERT INTO runs (id, deployment, job, started_at, finished_at, outcome, actor) "
                   "VALUES (?,?,?,?,?,?,?)", ("run-backup-prod-1", "prod", "backup", iso(failed_at),
                                              iso(failed_at), "failed", "schedule"))
        db.execute("INSERT INTO run_items VALUES ('run-backup-prod-1', 'config-backup', 'failed', 'disk full')")
        watch_runs(db, now, 120)  # ten hours of a watch every 5 minutes, newer than the backup
    status = web.get("/api/v1/deployments/prod/status", token=VIEWER).json()
    assert status["last_runs"]["backup"]["outcome"] == "failed"
    assert any("disk full" in r for r in status["reasons"]) and status["health"] != "healthy"


def test_a_watch_still_running_does_not_turn_the_node_down(sim: Simulator, tmp_path: Path,
                                                           daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    now = datetime.now(UTC).replace(microsecond=0)

    with sqlite3.connect(tmp_path / "var" / "catalog.db") as db:
        db.execute("INSERT INTO runs (id, deployment, job, started_at, finished_at, outcome) VALUES "
                   "('run-watch-prod-1', 'prod', 'watch', ?, ?, 'completed')",
                   (iso(now - timedelta(minutes=5)), iso(now - timedelta(minutes=5))))
        db.execute("INSERT INTO runs (id, deployment, job, started_at) VALUES "
                   "('run-watch-prod-2', 'prod', 'watch', ?)", (iso(now),))
        db.execute("INSERT INTO contacts (deployment, last_contact) VALUES ('prod', ?)",
                   (iso(now - timedelta(minutes=5)),))
    status = web.get("/api/v1/deployments/prod/status", token=VIEWER).json()
    assert status["management_node"] == "up", status
