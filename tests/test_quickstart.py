"""The README's quick start, as a user runs it: the shipped agent.toml against `backup-agent sim`.

Everything runs as separate processes over real sockets: the simulator as `backup-agent sim`,
then each CLI command with the environment variables the README tells the user to set.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    port = free_port()
    cfg = tmp_path / "agent.toml"
    text = (ROOT / "agent.toml").read_text().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    cfg.write_text(text.replace('path = "./var"', f'path = "{tmp_path / "var"}"'))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PEXIP_PASSWORD": "sim-admin",
           "PEXIP_BACKUP_PASSPHRASE": "a long passphrase for the quick start"}
    sim = subprocess.Popen([sys.executable, "-m", "backup_agent.cli.main", "sim", "--port", str(port),
                            "--rooms", "300"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert sim.poll() is None and time.monotonic() < deadline, "backup-agent sim did not start"
                time.sleep(0.1)
        yield cfg, env
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def test_readme_quick_start(quickstart: tuple[Path, dict[str, str]]) -> None:
    cfg, env = quickstart

    def agent(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg), *argv],
                              capture_output=True, text=True, env=env, timeout=120)

    for argv in (["backup"], ["export"], ["verify"], ["snapshot", "create", "mgr01", "--reason", "pre-upgrade"],
                 ["status"], ["plan", "--failed", "management"]):
        done = agent(*argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert "Traceback" not in done.stderr
    points = json.loads(agent("list", "--json").stdout)
    assert {p["kind"] for p in points} == {"config-backup", "room-export", "inventory", "snapshot"}
    for p in points:
        for f in p["files"]:
            assert Path(f["path"]).is_file() and f["size"] > 0
    done = agent("backup")
    assert done.returncode == 0
    env["PEXIP_PASSWORD"] = "Wr0ng-Quick-Pw"
    done = agent("backup")
    assert done.returncode == 1 and "refused the credentials" in done.stderr
    assert "Wr0ng-Quick-Pw" not in done.stdout + done.stderr


def test_shipped_agent_toml_names_nodes_the_simulator_has(
        quickstart: tuple[Path, dict[str, str]]) -> None:
    """agent.toml named a Conferencing Node cn01 that `backup-agent sim` does not have."""
    import tomllib

    cfg, env = quickstart
    nodes = tomllib.loads(cfg.read_text())["deployments"][0]["nodes"]
    cns = [n["name"] for n in nodes if n["role"] == "conferencing"]
    assert cns, "the shipped agent.toml shows a Conferencing Node"

    def agent(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "backup_agent", "--config", str(cfg), *argv],
                              capture_output=True, text=True, env=env, timeout=120)

    for argv in (["backup"], ["snapshot", "create", *[n["name"] for n in nodes]],
                 ["plan", "--failed", cns[0]], ["status"]):
        done = agent(*argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    plan = json.loads(agent("plan", "--failed", cns[0], "--json").stdout)
    assert plan["paths"][0]["kind"] == "redeploy-node" and plan["paths"][0]["target"] == cns[0]
