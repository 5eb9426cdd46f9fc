"""Log lines, on stderr and in the agent's log, carry UTC ISO 8601 times whatever the
machine's time zone: the log lines up with the catalog, the journal and the plan in a bundle."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from backup_agent.sim import Simulator
from tests.jobs.conftest import write_config

REPO = Path(__file__).resolve().parents[2]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (INFO|WARNING|ERROR|DEBUG) ")


def test_log_times_are_utc_iso_8601_in_any_time_zone(sim: Simulator, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, sim.url)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TZ": "Asia/Tokyo"}  # UTC+9, no DST
    before = datetime.now(UTC).replace(microsecond=0)
    proc = subprocess.run([sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg),
                           "export"], env=env, capture_output=True, text=True, timeout=60)
    after = datetime.now(UTC)
    assert proc.returncode == 0, proc.stderr
    log_lines = (tmp_path / "var" / "logs" / "agent.log").read_text().splitlines()
    err_lines = [line for line in proc.stderr.splitlines() if line]
    assert log_lines and err_lines
    for line in log_lines + err_lines:
        match = STAMP.match(line)
        assert match, line
        at = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before <= at <= after, f"{line} is not UTC"
