"""deploy/compose.yaml: its services, configuration and secrets work as written.

There is no compose here, so the test runs the file's own definitions with podman the way
compose would: both services in one pod (a shared network where ``simulator`` resolves), each
secret file at /run/secrets/NAME, the service's command, read-only with no capabilities.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backup_agent import config as config_mod
from backup_agent.cli.main import build_parser
from tests.container.conftest import ROOT, UID, Image, podman

DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def service(name: str) -> dict[str, Any]:
    return COMPOSE["services"][name]


def podman_options(name: str) -> list[str]:
    """What compose would pass to the runtime for this service (the subset the file uses)."""
    svc = service(name)
    options = ["--user", svc["user"], *[f"--cap-drop={c}" for c in svc["cap_drop"]]]
    options += ["--read-only"] if svc["read_only"] else []
    options += [f"--tmpfs={t}" for t in svc.get("tmpfs", [])]
    options += [f"--security-opt={o}" for o in svc.get("security_opt", [])]
    for secret in svc.get("secrets", []):
        source = (DEPLOY / COMPOSE["secrets"][secret]["file"]).resolve()
        options += ["-v", f"{source}:/run/secrets/{secret}:ro"]
    for volume in svc.get("volumes", []):
        source, target, *mode = volume.split(":")
        if source.startswith("./"):
            options += ["-v", ":".join([str((DEPLOY / source).resolve()), target, *mode])]
    return options


def test_services_and_secrets_as_files() -> None:
    agent, sim = service("agent"), service("simulator")
    assert agent["command"] == ["run"]
    assert agent["ports"] == ["127.0.0.1:9464:9464"]
    assert "agent-data:/var/lib/backup-agent" in agent["volumes"]
    assert "./compose/agent.toml:/etc/backup-agent/agent.toml:ro" in agent["volumes"]
    assert set(agent["secrets"]) == set(COMPOSE["secrets"])
    assert agent["read_only"] and agent["cap_drop"] == ["ALL"] and "/tmp" in agent["tmpfs"]
    # Docker's SIGKILL must come after the daemon's own grace period.
    grace = tomllib.loads((DEPLOY / "compose/agent.toml").read_text()).get("daemon", {}).get(
        "grace_seconds", 60)
    assert int(agent["stop_grace_period"].rstrip("s")) > grace
    assert sim["image"] == agent["image"]
    for secret in COMPOSE["secrets"].values():
        path = DEPLOY / secret["file"]
        assert path.stat().st_mode & 0o004, f"{path} must be readable by uid {UID} in the container"


def test_commands_are_the_agents() -> None:
    """The simulator's command parses with the agent's own command line."""
    args = build_parser().parse_args(service("simulator")["command"])
    assert (args.command, args.host, args.port) == ("sim", "0.0.0.0", 8080)  # noqa: S104 - reached by the agent


def test_agent_toml_points_at_the_simulator_with_the_secret_files() -> None:
    cfg = config_mod.load(DEPLOY / "compose/agent.toml")
    (dep,) = cfg.deployments
    assert dep.url == "http://simulator:8080"
    mounted = {f"/run/secrets/{s}" for s in service("agent")["secrets"]}
    assert dep.password is not None and dep.password.file in mounted
    assert dep.passphrase is not None and dep.passphrase.file in mounted


def logs(container: str) -> str:
    done = podman("logs", container, check=False)
    return done.stdout + done.stderr


@pytest.fixture
def pod(image: Image) -> Iterator[str]:
    """A pod with the simulator service running in it, as compose would start it."""
    name = f"backup-agent-compose-{os.getpid()}-{time.monotonic_ns()}"
    podman("pod", "create", "--name", name, "--add-host", "simulator:127.0.0.1")
    try:
        podman("run", "-d", "--pod", name, "--name", f"{name}-simulator", "--no-healthcheck",
               *podman_options("simulator"), image.name, *service("simulator")["command"])
        deadline = time.monotonic() + 30
        while "control:" not in logs(f"{name}-simulator"):
            assert time.monotonic() < deadline, "the simulator service did not start"
            time.sleep(0.3)
        yield name
    finally:
        podman("pod", "rm", "--force", "--time", "5", name, check=False)


def test_the_demo_backs_up_the_simulator(image: Image, pod: str, tmp_path: Path) -> None:
    data = tmp_path / "agent-data"
    data.mkdir(mode=0o700)
    os.chown(data, UID, UID)
    options = ("--pod", pod, *podman_options("agent"), "-v", f"{data}:/var/lib/backup-agent")
    done = image.run("backup", options=options, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "demo: backup completed" in done.stdout
    done = image.run("snapshot", "create", "mgr01", "--reason", "compose-demo", options=options,
                     timeout=120)
    assert done.returncode == 0, done.stderr
