"""``status`` as a health check: exit 0 healthy, 10 degraded, 11 down; a short probe; ages."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_agent.errors import EXIT_DEGRADED, EXIT_DOWN, EXIT_FAILED, EXIT_NOT_READY, EXIT_OK, EXIT_PARTIAL
from backup_agent.service.status import PROBE_TIMEOUT, age_text, worst
from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner, agent, cfg, sim, write_config

__all__ = ["agent", "cfg", "sim"]  # fixtures used below


def status(agent: Runner, cfg: Path, *flags: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    code, out, err = agent("--config", str(cfg), "status", "--json", *flags)
    [s] = json.loads(out)
    return code, s, err


def test_codes_are_distinct_from_every_other_exit_code() -> None:
    assert len({EXIT_OK, EXIT_FAILED, 2, EXIT_PARTIAL, EXIT_NOT_READY, 130, EXIT_DEGRADED,
                EXIT_DOWN}) == 8
    assert worst(["healthy", "down", "degraded"]) == "down" and worst([]) == "healthy"


def test_healthy_after_a_backup_with_ages(agent: Runner, cfg: Path) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    code, s, _ = status(agent, cfg)
    assert code == EXIT_OK and s["health"] == "healthy" and s["reasons"] == []
    assert s["newest"]["config-backup"]["age"] == "under a minute"
    assert 0 <= s["newest"]["config-backup"]["age_seconds"] < 60
    assert 0 <= s["last_runs"]["backup"]["age_seconds"] < 60 and s["last_contact_age_seconds"] < 60
    assert s["last_contact_age"] == "under a minute"
    code, out, _ = agent("--config", str(cfg), "status")
    assert code == 0 and "health: healthy" in out and "under a minute old)" in out


@pytest.mark.parametrize(("seconds", "says"), [
    (5, "under a minute"), (300, "5 min"), (5 * 3600, "5 h"), (47 * 3600, "47 h"),
    (9 * 86400 + 7, "9 days"), (-60, "in the future (check the clocks)")])
def test_ages(seconds: int, says: str) -> None:
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert age_text(now - timedelta(seconds=seconds), now) == says


@pytest.mark.parametrize(("seconds", "floored", "nearest"), [
    (29, "under a minute", "under a minute"), (59, "under a minute", "1 min"),
    (5 * 60 + 40, "5 min", "6 min"), (5 * 3600 + 1800, "5 h", "6 h"),
    (14 * 86400 - 30, "13 days", "14 days"), (int(12.5 * 86400), "12 days", "13 days")])
def test_ages_floor_unless_rounded_to_the_nearest(seconds: int, floored: str, nearest: str) -> None:
    """Status floors ages; the console rounds a deadline as its hours are rounded."""
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    then = now - timedelta(seconds=seconds)
    assert (age_text(then, now), age_text(then, now, nearest=True)) == (floored, nearest)


def test_down_is_11_within_a_few_seconds(agent: Runner, tmp_path: Path, sim: Simulator) -> None:
    """With the node down the old status spent ~15 s in retries, and exited 0."""
    cfg = write_config(tmp_path, sim.url, retries=5, timeout=30)  # the defaults
    assert agent("--config", str(cfg), "backup")[0] == 0
    sim.state.set_management_down("close")
    started = time.monotonic()
    code, s, _ = status(agent, cfg)
    assert time.monotonic() - started < 5  # under load; the probe itself fails at once
    assert code == EXIT_DOWN and s["health"] == "down" and s["management_node"] == "down"
    assert "does not answer" in s["reasons"][0] and s["autonomy"]["applies"]
    sim.state.set_management_down("503")
    assert status(agent, cfg)[0] == EXIT_DOWN


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung node, a black hole)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def test_a_silent_node_costs_the_probe_budget_only(agent: Runner, tmp_path: Path,
                                                   silent_port: int) -> None:
    cfg = write_config(tmp_path, f"http://127.0.0.1:{silent_port}", retries=5, timeout=30)
    started = time.monotonic()
    code, s, _ = status(agent, cfg)
    assert time.monotonic() - started < 2 * PROBE_TIMEOUT + 2
    assert code == EXIT_DOWN and s["management_node"] == "down"


def test_never_reached_is_down_and_advises_no_missing_flag(agent: Runner, tmp_path: Path) -> None:
    """It said "pass --down-since TIME", a flag status does not have."""
    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    code, s, _ = status(agent, cfg)
    assert code == EXIT_DOWN and s["last_contact"] is None
    assert "the agent has never reached the Management Node" in s["reasons"]
    code, out, err = agent("--config", str(cfg), "status")
    assert code == EXIT_DOWN and "--down-since" not in out + err
    assert "never reached this Management Node" in out
    code, s, _ = status(agent, cfg, "--no-probe")
    assert code == EXIT_DOWN and s["management_node"] == "not probed"


def test_no_probe_right_after_a_good_contact_shows_no_running_clock(agent: Runner, cfg: Path) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    code, s, _ = status(agent, cfg, "--no-probe")
    assert code == EXIT_OK and s["autonomy"] is None and s["management_node"] == "not probed"
    code, out, _ = agent("--config", str(cfg), "status", "--no-probe")
    assert "AUTONOMY CLOCK" not in out and "not probed" in out


def test_a_failed_last_backup_is_degraded(agent: Runner, cfg: Path, sim: Simulator) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    sim.faults.fail_backup(times=5)
    assert agent("--config", str(cfg), "backup")[0] != 0
    code, s, _ = status(agent, cfg)
    assert code == EXIT_DEGRADED and s["management_node"] == "up"
    assert any(r.startswith("the last backup (") for r in s["reasons"])
    sim.faults.clear()  # how many armed failures a run uses up depends on its retries
    assert agent("--config", str(cfg), "backup")[0] == 0
    assert status(agent, cfg)[0] == EXIT_OK


def test_refused_credentials_are_degraded_and_no_clock_runs(agent: Runner, cfg: Path,
                                                            tmp_path: Path) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    (tmp_path / "pw").write_text("Not-The-Pw-9913")
    code, s, _ = status(agent, cfg)
    assert code == EXIT_DEGRADED and s["management_node"] == "unknown" and s["autonomy"] is None
    assert s["reasons"][0] == "the Management Node answers but refuses the agent's credentials"
