"""``--all``: every deployment runs even when one of them cannot; one exit code for all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backup_agent.cli.common import combined_exit_code
from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSPHRASE, PASSWORD, Runner, write_config


def two_deployments(tmp_path: Path, url: str) -> Path:
    """``a`` lacks its passphrase (a config error); ``b`` is fine."""
    cfg = write_config(tmp_path, url, name="a", passphrase_file=str(tmp_path / "missing"))
    text = cfg.read_text() + "\n".join([
        "[[deployments]]", 'name = "b"', f'url = "{url}"',
        f'password_file = "{tmp_path / "pw"}"', f'passphrase_file = "{tmp_path / "pp"}"',
        "retries = 3", "timeout = 5"]) + "\n"
    cfg.write_text(text)
    return cfg


def test_one_broken_deployment_does_not_stop_the_others(agent: Runner, tmp_path: Path,
                                                        sim: Simulator) -> None:
    cfg = two_deployments(tmp_path, sim.url)
    code, out, err = agent("--config", str(cfg), "backup", "--all", "--json")
    assert code == 3, err
    a, b = json.loads(out)  # one JSON document, not one per deployment
    assert a["deployment"] == "a" and a["exit_code"] == 2 and "passphrase" in a["error"]
    assert b["deployment"] == "b" and b["outcome"] == "completed"
    assert "backup-agent: a: deployments.a.passphrase" in err
    assert PASSWORD not in out + err and PASSPHRASE not in out + err

    code, out, err = agent("--config", str(cfg), "backup", "--all")
    assert code == 3
    assert "b: backup completed" in out
    assert agent("--config", str(cfg), "backup", "--all", "--deployment", "b")[0] == 2


@pytest.mark.parametrize(("codes", "expected"), [
    ([0, 0], 0), ([1, 1], 1), ([0, 1], 3), ([3, 2], 3), ([1, 2], 2), ([2, 4], 4), ([0, 4], 3)])
def test_combined_exit_code(codes: list[int], expected: int) -> None:
    assert combined_exit_code(codes) == expected


def test_status_of_every_deployment_survives_one_without_its_password(
        agent: Runner, tmp_path: Path, sim: Simulator) -> None:
    cfg = two_deployments(tmp_path, sim.url)
    cfg.write_text(cfg.read_text().replace(f'password_file = "{tmp_path / "pw"}"',
                                           'password_env = "T_UNSET_PASSWORD"', 1))
    code, out, err = agent("--config", str(cfg), "status", "--json")
    assert code == 10, err  # degraded: a cannot be probed (and b has no config backup yet)
    a, b = json.loads(out)
    assert a["deployment"] == "a" and "T_UNSET_PASSWORD is not set" in a["error"]
    assert b["deployment"] == "b" and b["management_node"] == "up"
    assert "backup-agent: a: deployments.a.password" in err
    code, out, err = agent("--config", str(cfg), "status")
    assert code == 10 and "b: Management Node up" in out
