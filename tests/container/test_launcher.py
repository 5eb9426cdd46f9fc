"""The image's launcher and healthcheck scripts (deploy/container/), on the host: the precedence
of their defaults, which the image tests cannot see from outside."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from backup_agent import __version__
from tests.container.conftest import ROOT

SCRIPTS = ROOT / "deploy" / "container"


def load(name: str) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(SCRIPTS / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


launcher = load("backup-agent")
healthcheck = load("backup-agent-healthcheck")


def launch(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str | None]:
    """Run the launcher's main with the agent's main replaced by a recorder."""
    seen: dict[str, object] = {}

    def agent_main(args: list[str]) -> int:
        seen["argv"], seen["listen"] = args, os.environ.get("BACKUP_AGENT_DAEMON_LISTEN")
        return 0

    for key in ("BACKUP_AGENT_DAEMON_LISTEN", "BACKUP_AGENT_CONFIG", "BACKUP_AGENT_IMAGE_LISTEN"):
        # Set, then deleted: monkeypatch records the key, so what the launcher writes into
        # os.environ is undone too (it leaked the image's 0.0.0.0:9464 into every later daemon).
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["backup-agent", *argv])
    monkeypatch.setattr("backup_agent.cli.main.main", agent_main)
    assert launcher.main() == 0
    return seen["argv"], seen["listen"]  # type: ignore[return-value]


def test_config_defaults_to_the_image_path_and_an_explicit_one_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"BACKUP_AGENT_CONFIG": str(tmp_path / "agent.toml")}
    assert launch(["backup"], env, monkeypatch)[0] == ["--config", str(tmp_path / "agent.toml"), "backup"]
    assert launch(["-c", "/x.toml", "backup"], env, monkeypatch)[0] == ["-c", "/x.toml", "backup"]
    assert launch(["--config=/x.toml", "list"], env, monkeypatch)[0] == ["--config=/x.toml", "list"]


@pytest.mark.parametrize(("file_listen", "env_listen", "expected"), [
    (None, None, "0.0.0.0:9464"),                       # the image's default
    ("127.0.0.1:7000", None, None),                     # the file's: the launcher leaves it alone
    (None, "127.0.0.1:7001", "127.0.0.1:7001"),         # the environment's
    ("127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7001"),
])
def test_listen_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_listen: str | None,
                           env_listen: str | None, expected: str | None) -> None:
    config = tmp_path / "agent.toml"
    config.write_text((f'[daemon]\nlisten = "{file_listen}"\n' if file_listen else "")
                      + '[storage]\npath = "x"\n')
    env = {"BACKUP_AGENT_CONFIG": str(config), "BACKUP_AGENT_IMAGE_LISTEN": "0.0.0.0:9464"}
    if env_listen:
        env["BACKUP_AGENT_DAEMON_LISTEN"] = env_listen
    assert launch(["run"], env, monkeypatch)[1] == expected


def test_healthcheck_address_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[daemon]\nlisten = "[::]:7002"\n')
    monkeypatch.setenv("BACKUP_AGENT_CONFIG", str(config))
    monkeypatch.setenv("BACKUP_AGENT_IMAGE_LISTEN", "0.0.0.0:9464")
    monkeypatch.delenv("BACKUP_AGENT_DAEMON_LISTEN", raising=False)
    assert healthcheck.probe_url(healthcheck.listen_address()) == "http://[::1]:7002/healthz"
    config.write_text("")
    assert healthcheck.probe_url(healthcheck.listen_address()) == "http://127.0.0.1:9464/healthz"
    monkeypatch.setenv("BACKUP_AGENT_DAEMON_LISTEN", "10.1.2.3:7003")
    assert healthcheck.probe_url(healthcheck.listen_address()) == "http://10.1.2.3:7003/healthz"
    with pytest.raises(healthcheck.Unhealthy, match="is not HOST:PORT"):
        healthcheck.probe_url("nonsense")


def test_healthcheck_on_a_broken_configuration_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[daemon\n")
    monkeypatch.setenv("BACKUP_AGENT_CONFIG", str(config))
    monkeypatch.delenv("BACKUP_AGENT_DAEMON_LISTEN", raising=False)
    with pytest.raises(healthcheck.Unhealthy, match="cannot read the configuration"):
        healthcheck.listen_address()


def test_the_launcher_runs_the_agent_in_process() -> None:
    done = subprocess.run([sys.executable, str(SCRIPTS / "backup-agent"), "--version"], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"backup-agent {__version__}")
