"""Status stays fast at scale because its reads are indexed and few, not because the machine
is quick: the query plans of the reads ``/api/v1/status`` makes, and how many it makes.

(The timed figure, 50 deployments of 10,000 restore points each, is the bench's.)
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backup_agent import config as config_mod
from backup_agent.jobs.env import Env
from backup_agent.service.status import deployment_status

POINTS = 2_000


def _fill(db: Path, deployments: list[str]) -> None:
    now = datetime.now(UTC)

    def iso(t: datetime) -> str:
        return t.isoformat().replace("+00:00", "Z")

    with sqlite3.connect(db) as con:
        for dep in deployments:
            con.executemany(
                "INSERT INTO restore_points (id, kind, deployment, taken_at, version, verified, data) "
                "VALUES (?,?,?,?,?,1,?)",
                [(f"rp-{dep}-{i}", ("config-backup", "snapshot", "room-export")[i % 3], dep,
                  iso(now - timedelta(minutes=i + 1)), "38.1", json.dumps({"rooms": 1})) for i in range(POINTS)])
            con.executemany(
                "INSERT INTO runs (id, deployment, job, started_at, finished_at, outcome, summary, actor) "
                "VALUES (?,?,?,?,?,'completed','{}','schedule')",
                [(f"run-{dep}-{i}", dep, ("watch", "backup", "export")[i % 3],
                  iso(now - timedelta(minutes=5 * i)), iso(now - timedelta(minutes=5 * i))) for i in range(600)])


def test_a_status_from_the_catalog_makes_few_reads_each_by_an_index(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("pw")
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path}/var"\n' + "".join(
        f'\n[[deployments]]\nname = "{d}"\nurl = "http://127.0.0.1:9"\npassword_file = "pw"\n'
        for d in ("prod", "lab")))
    env = Env.open(config_mod.load(cfg))
    try:
        _fill(tmp_path / "var" / "catalog.db", ["prod", "lab"])
        statements: list[str] = []
        db = env.catalog._db  # type: ignore[attr-defined]
        db.set_trace_callback(statements.append)
        status = deployment_status(env, env.config.deployment("prod"), probe_node=False, watch=True)
        db.set_trace_callback(None)
        assert status["management_node"] == "up" and status["newest"]["config-backup"] is not None
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(reads) <= 25, reads
        for sql in reads:
            plan = " ".join(str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
            # Every column the read picks rows by is a column the index searches by: an index
            # on the deployment alone walks all its 2,000 points to find one kind.
            for column in re.findall(r"\b(deployment|kind|job|id|run_id|restore_point_id)\s*=\s*'", sql):
                assert f"{column}=?" in plan, (sql, plan)
            scans = [p for p in plan.split(" ") if p == "SCAN"]
            # A scan is allowed only inside a row set already cut down (a subquery of LIMIT rows).
            assert not scans or "SUBQUERY" in plan or "CO-ROUTINE" in plan, (sql, plan)
    finally:
        env.close()
