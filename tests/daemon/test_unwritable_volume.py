"""The daemon on a storage volume that cannot be written at start (read-only, not mounted yet):
it stays up, /healthz 200, /readyz 503 with the reason, the store alert once; when the volume
can be written it takes the storage, runs its jobs and the alert resolves.

Root ignores file modes, so the volume is made unwritable as its owner sees it: the
immutable attribute (``chattr +i``) for root, mode 0500 for anyone else."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_agent.sim import Simulator
from tests.daemon.conftest import Daemon, Webhook, daemon_config, wait_for
from tests.daemon.test_service import runs

QUIET = {"export": "off", "verify": "off", "audit": "off", "watch": "@every 1s",
         "backup": "@every 1s"}


def _writable(path: Path, yes: bool) -> None:
    if os.geteuid() != 0:
        path.chmod(0o700 if yes else 0o500)
        return
    done = subprocess.run(["chattr", "-i" if yes else "+i", str(path)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot make {path} unwritable as root here: {done.stderr.strip()}")


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    """An empty storage directory that cannot be written; writable again at the end."""
    var = tmp_path / "var"
    var.mkdir()
    _writable(var, False)
    try:
        (var / "probe").write_text("x")
    except OSError:
        pass
    else:
        pytest.fail("the volume was meant to be unwritable")
    yield var
    _writable(var, True)


def test_the_daemon_waits_up_for_an_unwritable_volume_and_recovers(
        sim: Simulator, tmp_path: Path, volume: Path, daemons: list[Daemon],
        webhook: Webhook) -> None:
    cfg = daemon_config(tmp_path, sim.url, schedule=QUIET,
                        tables=f'[alerts]\nurls = ["{webhook.url}"]\n')
    d = Daemon(cfg).wait_listening()
    daemons.append(d)
    assert d.proc.poll() is None, "the daemon is up (it exited 1 before)"
    status, body = d.get("/readyz")
    checks = json.loads(body)
    assert status == 503 and "cannot take the daemon lock" in checks["store"], body
    assert checks["catalog"] == "not open"
    status, body = d.get("/healthz")
    assert status == 200 and json.loads(body)["scheduler"] == "waiting for the storage"
    wait_for(lambda: "ALERT prod: store not-writable" in webhook.titles(), what="store alert")
    assert "waiting for it" in d.stderr() and "Traceback" not in d.stderr()
    assert not (volume / "catalog.db").exists()

    _writable(volume, True)
    wait_for(lambda: d.get("/readyz")[0] == 200, what="ready once writable")
    wait_for(lambda: "RESOLVED prod: store" in webhook.titles(), what="store resolved")
    wait_for(lambda: [r for r in runs(tmp_path) if r[0] == "backup" and r[3] == "completed"],
             what="a backup once the volume is writable")
    assert webhook.titles().count("ALERT prod: store not-writable") == 1
    # The agent log, which could not be opened on the volume at start, is written now.
    agent_log = volume / "logs" / "agent.log"
    wait_for(lambda: agent_log.exists() and "the storage can be written again"
             in agent_log.read_text(), what="the agent log once writable")
    assert d.stop() == 0
    text = agent_log.read_text()
    assert "daemon running" in text and "daemon stopped" in text, text
    assert agent_log.stat().st_mode & 0o777 == 0o600


def test_sigterm_while_waiting_stops_cleanly(sim: Simulator, tmp_path: Path, volume: Path,
                                             daemons: list[Daemon]) -> None:
    import signal

    d = Daemon(daemon_config(tmp_path, sim.url, schedule=QUIET)).wait_listening()
    daemons.append(d)
    assert d.get("/readyz")[0] == 503
    d.signal(signal.SIGTERM)
    assert d.stop(30) == 0
    assert "Traceback" not in d.stderr()
