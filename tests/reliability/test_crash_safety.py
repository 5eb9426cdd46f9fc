"""Crash safety: SIGKILL at a random moment of a backup or an export, then check the storage.

After each kill: the catalog passes SQLite's integrity check, every restore point's files
exist and hash (``verify`` exits 0), the next run of the job succeeds, and after it no orphan
is left visible. ``CRASH_TRIALS`` per job (3 in CI), 50 with ``BACKUP_AGENT_LONG=1``. The
trials and what they found are printed (``pytest -s``) for docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, write_config

ROOT = Path(__file__).resolve().parents[2]
LONG = os.environ.get("BACKUP_AGENT_LONG", "") not in ("", "0")
TRIALS = 50 if LONG else int(os.environ.get("CRASH_TRIALS", "3"))


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    """A node slow enough that a kill lands inside the run: 4 MiB backups, some latency."""
    with Simulator(SimOptions(rooms=300, aliases_per_room=2, conferencing_nodes=2,
                              password=PASSWORD, backup_request_seconds=0.1,
                              backup_padding_bytes=4 << 20, latency_ms=5)) as s:
        yield s


def _cli(cfg: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "backup_agent.cli.main", "--config",
                             str(cfg), *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _run(cfg: Path, *args: str) -> tuple[int, str, str]:
    p = _cli(cfg, *args)
    out, err = p.communicate(timeout=180)
    return p.returncode, out, err


def _check_storage(cfg: Path, storage: Path) -> None:
    with sqlite3.connect(storage / "catalog.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    code, out, err = _run(cfg, "verify")
    assert code == 0, (out, err)


@pytest.mark.parametrize("job", ["backup", "export"])
def test_sigkill_at_random_points(slow_sim: Simulator, tmp_path: Path, job: str) -> None:
    cfg = write_config(tmp_path, slow_sim.url)
    storage = tmp_path / "var"
    rng = random.Random(f"{job}-{TRIALS}")  # reproducible kill points
    t0 = time.monotonic()
    assert _run(cfg, job)[0] == 0
    duration = time.monotonic() - t0  # kill points spread over a whole run, start-up included
    killed = 0
    for _ in range(TRIALS):
        proc = _cli(cfg, job)
        time.sleep(rng.uniform(0.05, duration))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.communicate(timeout=60)
        if (storage / "catalog.db").exists():
            _check_storage(cfg, storage)
        code, out, err = _run(cfg, job)
        assert code == 0, f"the run after a kill failed: {err}"
        code, out, _ = _run(cfg, "verify")
        assert code == 0 and "orphan" not in out, out
    print(f"\ncrash safety: {job}: {TRIALS} trials, {killed} killed mid-run, 0 failures")
