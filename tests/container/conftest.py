"""The agent's image, run with podman: what `tests/peers/install-containers.sh` built.

BACKUP_AGENT_TEST_IMAGE names another image to test (a build of another branch).

Every container runs under ``timeout -k`` (podman's client forwards SIGTERM and can wait for
ever), with podman's healthcheck off for one-off commands (its timers need systemd here and
complain on stderr). Without podman or the image the tests skip, which fails a CI run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backup_agent.sim import SimOptions, Simulator

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
IMAGE_FILE = ROOT / ".peers" / "container-image"
UID = 10001
SIM_PASSWORD = "container-sim-pw-4417"  # a test secret, looked for in outputs
PASSPHRASE = "container passphrase 9921"  # a test secret, looked for in outputs


def podman_env() -> dict[str, str]:
    return dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF))


def podman(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A podman command that is not a ``run`` (those go through :meth:`Image.run`)."""
    return subprocess.run(["podman", *args], env=podman_env(), capture_output=True, text=True,
                          timeout=timeout, check=check)


def tool(name: str) -> str | None:
    """A tool on PATH or beside this Python (the test extras' binaries live in the venv)."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


@dataclass
class Image:
    name: str

    def run(self, *args: str, options: tuple[str, ...] = (), timeout: float = 90,
            ) -> subprocess.CompletedProcess[str]:
        """``podman run --rm`` of the image, read-only and with no capabilities unless told."""
        cmd = ["timeout", "-k", "5", str(timeout), "podman", "run", "--rm", "--no-healthcheck",
               *options, self.name, *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=podman_env(),
                              timeout=timeout + 15, check=False)

    def inspect(self, fmt: str) -> str:
        done = subprocess.run(["podman", "image", "inspect", "--format", fmt, self.name],
                              capture_output=True, text=True, env=podman_env(), timeout=60, check=True)
        return done.stdout.strip()


LOCKED_DOWN = ("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")


@pytest.fixture(scope="session")
def image() -> Image:
    if tool("podman") is None:
        pytest.skip("podman is not installed (bash tests/peers/install-containers.sh)")
    if not IMAGE_FILE.exists():
        pytest.skip("no image built (bash tests/peers/install-containers.sh)")
    name = os.environ.get("BACKUP_AGENT_TEST_IMAGE") or IMAGE_FILE.read_text().strip()
    found = subprocess.run(["podman", "image", "exists", name], env=podman_env(), timeout=60, check=False)
    if found.returncode != 0:
        pytest.skip(f"image {name} is gone (bash tests/peers/install-containers.sh)")
    return Image(name)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulated deployment on the host's loopback; containers reach it with --network host."""
    s = Simulator(SimOptions(rooms=20, aliases_per_room=1, conferencing_nodes=2, seed=3,
                             password=SIM_PASSWORD)).start()
    yield s
    s.stop()


@dataclass
class Setup:
    """What a container gets mounted: a configuration, secret files and a data directory."""

    config: Path
    secrets: Path
    data: Path

    def mounts(self, data: str | None = None) -> tuple[str, ...]:
        return ("-v", f"{self.config}:/etc/backup-agent/agent.toml:ro",
                "-v", f"{self.secrets}:/run/secrets:ro",
                "-v", f"{data or self.data}:/var/lib/backup-agent")


def agent_toml(url: str, extra: str = "") -> str:
    return f"""\
[storage]
path = "/var/lib/backup-agent"

[[deployments]]
name = "lab"
url = "{url}"
username = "admin"
password_file = "/run/secrets/pexip-password"
passphrase_file = "/run/secrets/pexip-backup-passphrase"
{extra}"""


@pytest.fixture
def setup(tmp_path: Path, sim: Simulator) -> Setup:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "pexip-password").write_text(SIM_PASSWORD + "\n")
    (secrets / "pexip-backup-passphrase").write_text(PASSPHRASE + "\n")
    for path in (secrets, *secrets.iterdir()):
        os.chown(path, UID, UID)  # readable by the image's user only, as a secret should be
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(sim.url))
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, UID, UID)
    return Setup(config, secrets, data)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SIM_PASSWORD not in text
        assert PASSPHRASE not in text
