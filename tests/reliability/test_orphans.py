"""Defect 15: a file written but never recorded (a crash between the two) is found and removed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.jobs.conftest import Runner, listing


def _orphan(agent: Runner, cfg: Path) -> Path:
    """A complete-looking rooms.json of a restore point the catalog never recorded."""
    assert agent("--config", str(cfg), "export")[0] == 0
    rooms = next(Path(f["path"]) for p in listing(agent, cfg) if p["kind"] == "room-export"
                 for f in p["files"] if f["name"] == "rooms.json")
    stray = rooms.parent.parent / "re-prod-20200101T000000Z" / "rooms.json"
    stray.parent.mkdir(mode=0o700)
    stray.write_bytes(rooms.read_bytes())
    return stray


def test_verify_reports_an_orphan(agent: Runner, cfg: Path) -> None:
    stray = _orphan(agent, cfg)
    code, out, _ = agent("--config", str(cfg), "verify")
    assert code == 0 and "orphan: prod/room-export/re-prod-20200101T000000Z/rooms.json" in out
    code, out, _ = agent("--config", str(cfg), "verify", "--json")
    assert {"orphan": "prod/room-export/re-prod-20200101T000000Z/rooms.json",
            "size": stray.stat().st_size} in json.loads(out)


def test_the_next_run_removes_it_and_says_so(agent: Runner, cfg: Path) -> None:
    stray = _orphan(agent, cfg)
    code, out, err = agent("--config", str(cfg), "backup", "--json")
    assert code == 0, err
    assert not stray.exists() and not stray.parent.exists()
    assert json.loads(out)["summary"]["orphans_removed"] == [
        "prod/room-export/re-prod-20200101T000000Z/rooms.json"]
    assert "never recorded in the catalog" in err
    code, out, _ = agent("--config", str(cfg), "verify")
    assert "orphan" not in out
    assert all(Path(f["path"]).exists() for p in listing(agent, cfg) for f in p["files"]), \
        "recorded files are kept"


def test_verify_reports_an_unsafe_catalog_row_and_goes_on(agent: Runner, cfg: Path) -> None:
    from datetime import UTC, datetime

    from backup_agent import config as config_mod
    from backup_agent.catalog import FileRecord, RestorePoint
    from backup_agent.jobs.env import Env

    assert agent("--config", str(cfg), "export")[0] == 0
    env = Env.open(config_mod.load(cfg))
    try:
        env.catalog.add_restore_point(RestorePoint(
            id="re-prod-20000101T000000Z", kind="room-export", deployment="prod",
            taken_at=datetime(2000, 1, 1, tzinfo=UTC),
            files=[FileRecord("rooms.json", "../../etc/passwd", "0" * 64, 1)]))
    finally:
        env.close()
    code, out, err = agent("--config", str(cfg), "verify")
    assert code == 1 and "internal error" not in err, err
    assert "re-prod-20000101T000000Z: BAD: rooms.json: refusing unsafe store key" in out
    assert "2 of 3 restore points verified" in out, "the export and inventory were verified too"
