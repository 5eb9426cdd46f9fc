"""A simulator and an agent.toml pointing at it, for the job and CLI tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backup_agent.cli.main import main
from backup_agent.sim import SimOptions, Simulator

PASSWORD = "Sim-Pw-7c1e9f"  # a distinctive value so the leak test can grep for it
PASSPHRASE = "Pass-Phrase-4b2d8a-long"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimOptions(rooms=120, aliases_per_room=2, conferencing_nodes=3,
                              password=PASSWORD, backup_request_seconds=0.05)) as s:
        yield s


def write_config(tmp_path: Path, url: str, **overrides: Any) -> Path:
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "pp").write_text(PASSPHRASE)
    dep = {"name": "prod", "url": url, "password_file": str(tmp_path / "pw"),
           "passphrase_file": str(tmp_path / "pp"), "retries": 3, "timeout": 5}
    dep.update(overrides)
    lines = [f'[storage]\npath = "{tmp_path / "var"}"\n', "[[deployments]]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in dep.items() if v is not None]
    cfg = tmp_path / "agent.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


@pytest.fixture
def cfg(tmp_path: Path, sim: Simulator) -> Path:
    return write_config(tmp_path, sim.url)


Runner = Callable[..., tuple[int, str, str]]


def short_sleep(seconds: float) -> None:
    """The clients' sleep between retries in these tests: no real backoff is waited, a few
    milliseconds are, so that polling loops do not spin hot."""
    time.sleep(min(seconds, 0.005))


@pytest.fixture
def agent(capsys: pytest.CaptureFixture[str]) -> Runner:
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv), sleep=short_sleep)
        out, err = capsys.readouterr()
        return code, out, err
    return run


def listing(agent: Runner, cfg: Path) -> list[dict[str, Any]]:
    code, out, _ = agent("--config", str(cfg), "list", "--json")
    assert code == 0
    data: list[dict[str, Any]] = json.loads(out)
    return data
