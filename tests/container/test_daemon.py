"""The image's default command, ``run``: the daemon in a container, locked down.

Probed from the host through a published port (the image's listen default, 0.0.0.0:9464
inside), a scheduled backup against the simulator completes, ``podman healthcheck run`` uses
the image's HEALTHCHECK, and ``podman stop`` (SIGTERM) exits 0 within the grace period.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from backup_agent.errors import EXIT_USAGE
from tests.container.conftest import LOCKED_DOWN, UID, Image, Setup, assert_no_secret, podman
from tests.container.test_compose import logs, podman_options

GRACE = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def detached(image: Image, *options: str, args: tuple[str, ...] = ()) -> Iterator[str]:
    """``podman run -d``; removed afterwards whatever happened."""
    name = f"backup-agent-daemon-{os.getpid()}-{time.monotonic_ns()}"
    podman("run", "-d", "--name", name, "--health-interval", "disable", *options, image.name, *args)
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


def get(url: str, deadline: float = 30) -> requests.Response:
    """The first answer within the deadline (the daemon needs a moment to listen)."""
    end = time.monotonic() + deadline
    while True:
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.3)


def state(name: str) -> dict[str, object]:
    return json.loads(podman("inspect", "--format", "{{json .State}}", name).stdout)


def test_daemon_answers_on_the_image_default_address(image: Image, setup: Setup) -> None:
    port = free_port()
    with detached(image, *LOCKED_DOWN, "-p", f"127.0.0.1:{port}:9464", *setup.mounts()) as name:
        health = get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200, health.text
        ready = get(f"http://127.0.0.1:{port}/readyz")
        assert (ready.status_code, ready.json()["ok"]) == (200, True), ready.text
        metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert "backup_agent_runs_total" in metrics.text or "# HELP backup_agent" in metrics.text
        checked = podman("healthcheck", "run", name, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        script = "import os; print(os.getpid(), os.getuid())"
        inside = podman("exec", name, "/opt/backup-agent/bin/python", "-c", script)
        assert inside.stdout.split()[1] == str(UID)


@pytest.fixture
def compose_pod(image: Image) -> Iterator[tuple[str, int]]:
    """The compose demo as a pod: the simulator service running, the metrics port published."""
    name, port = f"backup-agent-demo-{os.getpid()}-{time.monotonic_ns()}", free_port()
    podman("pod", "create", "--name", name, "--add-host", "simulator:127.0.0.1",
           "-p", f"127.0.0.1:{port}:9464")
    try:
        from tests.container.test_compose import service
        podman("run", "-d", "--pod", name, "--name", f"{name}-simulator", "--no-healthcheck",
               *podman_options("simulator"), image.name, *service("simulator")["command"])
        deadline = time.monotonic() + 30
        while "control:" not in logs(f"{name}-simulator"):
            assert time.monotonic() < deadline, "the simulator service did not start"
            time.sleep(0.3)
        yield name, port
    finally:
        podman("pod", "rm", "--force", "--time", "0", name, check=False)


def test_compose_demo_daemon_backs_up_on_schedule_and_stops_on_sigterm(
        image: Image, compose_pod: tuple[str, int], tmp_path: Path) -> None:
    pod, port = compose_pod
    data = tmp_path / "agent-data"
    data.mkdir(mode=0o700)
    os.chown(data, UID, UID)
    # Time compressed through the 12-factor overrides; the compose file itself is unchanged.
    env = ("-e", "BACKUP_AGENT_DEPLOYMENTS_DEMO_SCHEDULE_BACKUP=@every 2s",
           "-e", f"BACKUP_AGENT_DAEMON_GRACE_SECONDS={GRACE}")
    with detached(image, "--pod", pod, *env, *podman_options("agent"),
                  "-v", f"{data}:/var/lib/backup-agent") as name:
        assert get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        end, completed = time.monotonic() + 60, 0.0
        while completed < 2:
            assert time.monotonic() < end, logs(name)
            time.sleep(0.5)
            for line in get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
                if line.startswith('backup_agent_runs_total{deployment="demo",job="backup",'
                                   'outcome="completed"}'):
                    completed = float(line.split()[-1])
        assert podman("healthcheck", "run", name, check=False).returncode == 0
        started = time.monotonic()
        podman("stop", "--time", str(GRACE + 10), name, timeout=GRACE + 30)
        took = time.monotonic() - started
        final = state(name)
        assert final["ExitCode"] == 0, logs(name)
        assert took < GRACE, f"stopping took {took:.1f} s"
        out = logs(name)
        assert "Traceback" not in out
        assert_no_secret(out)
    assert any((data / "store").rglob("*.tar.enc"))


def test_daemon_without_configuration_exits_with_one_line(image: Image) -> None:
    done = image.run(options=LOCKED_DOWN)  # CMD ["run"]
    assert done.returncode == EXIT_USAGE
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "/etc/backup-agent/agent.toml" in lines[0], done.stderr


def test_daemon_refuses_a_bad_configuration(image: Image, setup: Setup) -> None:
    setup.config.write_text("[daemon]\ngrace_seconds = -1\n\n" + setup.config.read_text())
    done = image.run(options=(*LOCKED_DOWN, *setup.mounts()))
    assert done.returncode == EXIT_USAGE
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "daemon.grace_seconds" in lines[0], done.stderr


def test_daemon_on_a_volume_it_cannot_write_at_all_waits_up_not_ready(
        image: Image, setup: Setup, tmp_path: Path) -> None:
    """No catalog can be opened: the daemon stays up (healthz 200) and readyz (503) says why,
    for the orchestrator to show; once the volume can be written it starts (readyz 200)."""
    root_owned = tmp_path / "root-owned"
    root_owned.mkdir(mode=0o755)
    port = free_port()
    with detached(image, *LOCKED_DOWN, "-p", f"127.0.0.1:{port}:9464",
                  *setup.mounts(data=str(root_owned))) as name:
        ready = get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 503, ready.text
        assert "/var/lib/backup-agent/locks" in ready.json()["store"], ready.text
        assert ready.json()["catalog"] == "not open"
        assert get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        assert state(name)["Running"] is True
        root_owned.chmod(0o777)  # the volume can be written now
        end = time.monotonic() + 30
        while get(f"http://127.0.0.1:{port}/readyz").status_code != 200:
            assert time.monotonic() < end, "ready once the volume can be written"
            time.sleep(0.5)
        out = podman("logs", name)
        logs = out.stdout + out.stderr
        assert "waiting for the storage" in logs and "Traceback" not in logs


def test_daemon_whose_store_it_cannot_write_stays_up_not_ready(image: Image, setup: Setup) -> None:
    """readyz says why (503), healthz stays 200, the HEALTHCHECK line carries the reason."""
    (setup.data / "store").mkdir(mode=0o755)  # root's, inside the agent's writable volume
    port = free_port()
    with detached(image, *LOCKED_DOWN, "-p", f"127.0.0.1:{port}:9464", *setup.mounts()) as name:
        ready = get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["store"].startswith("cannot write under /var/lib/backup-agent/store")
        assert get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        checked = podman("healthcheck", "run", name, check=False)
        assert checked.returncode == 0
        line = podman("exec", name, "backup-agent-healthcheck").stdout.strip()
        assert "not ready (503)" in line and "cannot write under /var/lib/backup-agent/store" in line
        assert state(name)["Running"] is True
