"""backup-agent restore refuses bad input before anything changes: one line, non-zero exit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_agent.catalog import open_catalog
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSPHRASE, PASSWORD, Runner
from tests.jobs.restore_helpers import config_with_nodes


@pytest.fixture
def fresh() -> Iterator[Simulator]:
    """An empty Management Node to restore onto."""
    with Simulator(SimOptions(empty=True, password=PASSWORD)) as s:
        yield s


@pytest.fixture
def cfg(tmp_path: Path, sim: Simulator, agent: Runner) -> Path:
    """A deployment with a config backup and a room export, its Management Node lost."""
    cfg = config_with_nodes(tmp_path, sim)
    for job in ("backup", "export"):
        assert agent("--config", str(cfg), job)[0] == 0
    sim.state.set_management_down()
    return cfg


def _restore(agent: Runner, cfg: Path, fresh: Simulator, *extra: str) -> tuple[int, str, str]:
    return agent("--config", str(cfg), "restore", "--failed", "management", "--path", "1",
                 "--target-url", fresh.url, "--yes", *extra)


def _unchanged(fresh: Simulator, err: str) -> None:
    assert fresh.state.room_count == 0, "nothing was restored"
    errors = [line for line in err.splitlines() if line.startswith("backup-agent:")]
    assert len(errors) == 1 and "Traceback" not in err  # log lines (the probe) aside
    assert PASSPHRASE not in err and PASSWORD not in err


def test_passphrase_missing(agent: Runner, cfg: Path, fresh: Simulator, tmp_path: Path) -> None:
    (tmp_path / "pp").unlink()
    code, _, err = _restore(agent, cfg, fresh)
    assert code == 4 and "passphrase" in err
    _unchanged(fresh, err)


def test_passphrase_wrong_is_refused_before_upload(agent: Runner, cfg: Path, fresh: Simulator,
                                                   tmp_path: Path) -> None:
    (tmp_path / "pp").write_text("a-different-passphrase")
    served = fresh.state.requests_served
    code, _, err = _restore(agent, cfg, fresh)
    # The backup's recorded reference says so before the plan offers it (no scrypt check needed).
    assert code == 4 and "is now a different passphrase" in err and "passphrase" in err
    _unchanged(fresh, err)
    assert fresh.state.requests_served - served <= 3, "only status and room count, no upload"


def test_passphrase_wrong_without_a_recorded_check_the_node_refuses(
        agent: Runner, cfg: Path, fresh: Simulator, tmp_path: Path) -> None:
    cat = open_catalog(tmp_path / "var" / "catalog.db")
    rp = cat.latest("prod", "config-backup")
    assert rp is not None
    # A backup made before checks and references were recorded.
    cat.update_data(rp.id, passphrase_check=None, passphrase_ref=None)
    cat.close()
    (tmp_path / "pp").write_text("a-different-passphrase")
    code, _, err = _restore(agent, cfg, fresh)
    assert code == 1 and "400" in err and "passphrase" in err.lower()
    _unchanged(fresh, err)
    code, out, _ = agent("--config", str(cfg), "restore", "--journal", "--json")
    steps = json.loads(out)["steps"]
    assert [s["state"] for s in steps if s["action"] == "restore-backup"] == ["failed"]


def test_backup_whose_hash_no_longer_matches_is_refused(agent: Runner, cfg: Path,
                                                        fresh: Simulator, tmp_path: Path) -> None:
    code, out, _ = agent("--config", str(cfg), "list", "--json")
    backup = next(rp for rp in json.loads(out) if rp["kind"] == "config-backup")
    assert "passphrase_check" not in backup, "the verifier stays inside the agent"
    path = Path(backup["files"][0]["path"])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    code, _, err = _restore(agent, cfg, fresh)
    assert code == 4 and "sha256 mismatch" in err and "refused" in err
    _unchanged(fresh, err)


def test_version_differs_refused_unless_forced(agent: Runner, cfg: Path) -> None:
    with Simulator(SimOptions(empty=True, password=PASSWORD, version="39.0",
                              restore_requires_same_version=False)) as other:
        code, _, err = _restore(agent, cfg, other)
        assert code == 4 and "39.0" in err and "--force" in err
        _unchanged(other, err)
        code, _, err = _restore(agent, cfg, other, "--force")
        assert code == 0, err
        assert other.state.room_count > 0


def test_path_that_does_not_exist(agent: Runner, cfg: Path, fresh: Simulator) -> None:
    code, _, err = agent("--config", str(cfg), "restore", "--failed", "management",
                         "--path", "9", "--target-url", fresh.url, "--yes")
    assert code == 2 and "--path 9: no such path" in err and "rebuild" in err
    _unchanged(fresh, err)


def test_path_not_ready_names_its_blockers(agent: Runner, cfg: Path, sim: Simulator,
                                           fresh: Simulator) -> None:
    node = sim.state.worker_status()[0]["name"]
    code, out, _ = agent("--config", str(cfg), "plan", "--failed", "management", "--failed", node,
                         "--json")
    paths = json.loads(out)["paths"]
    n = next(i for i, p in enumerate(paths, 1) if p["kind"] == "redeploy-node")
    code, _, err = agent("--config", str(cfg), "restore", "--failed", "management",
                         "--failed", node, "--path", str(n), "--yes")
    assert code == 4 and "not ready" in err and "restore it first" in err
    _unchanged(fresh, err)


def test_restore_backup_without_target_url(agent: Runner, cfg: Path, fresh: Simulator) -> None:
    code, _, err = agent("--config", str(cfg), "restore", "--failed", "management", "--path", "1",
                         "--yes")
    assert code == 4 and "--target-url" in err
    _unchanged(fresh, err)


def test_target_that_is_not_fresh_refused_unless_forced(agent: Runner, cfg: Path,
                                                        sim: Simulator) -> None:
    with Simulator(SimOptions(rooms=3, password=PASSWORD)) as used:
        code, _, err = _restore(agent, cfg, used)
        assert code == 4 and "has 3 room(s)" in err and "--force" in err
        assert used.state.room_count == 3
        code, _, err = _restore(agent, cfg, used, "--force")
        assert code == 0, err
        assert used.state.room_count == sim.state.room_count


def test_target_url_that_is_not_a_url(agent: Runner, cfg: Path, fresh: Simulator) -> None:
    code, _, err = _restore(agent, cfg, fresh, "--target-url", "mgr02.example.com")
    assert code == 2 and "expected https://HOST" in err
    _unchanged(fresh, err)
