"""The jobs run on any store: backup, export and a restore of the backup on the memory store.

Nothing is written under the store's directory: no job touches a local path of the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from backup_agent import config
from backup_agent.jobs import restore_steps
from backup_agent.jobs.backup import backup
from backup_agent.jobs.env import Env
from backup_agent.jobs.export import export, load_rooms
from backup_agent.sim import SimOptions, Simulator
from backup_agent.store import MemoryStore
from tests.jobs.conftest import PASSWORD, write_config

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_backup_export_and_restore_through_the_memory_store(tmp_path: Path) -> None:
    with Simulator(SimOptions(rooms=40, aliases_per_room=2, password=PASSWORD)) as sim:
        _round_trip(sim, tmp_path)
    assert not (tmp_path / "var" / "store").exists() or not any(
        p.is_file() for p in (tmp_path / "var" / "store").rglob("*"))


def _round_trip(sim: Simulator, tmp_path: Path) -> None:
    store = MemoryStore()
    # A clock that stands still: every run and restore point of the test in the same second.
    env = Env.open(config.load(write_config(tmp_path, sim.url)), clock=lambda: NOW)
    env.store = store
    try:
        dep = env.config.deployment()
        assert backup(env, dep).outcome == "completed"
        assert export(env, dep).outcome == "completed"
        points = {rp.kind: rp for rp in env.catalog.restore_points("prod")}
        keys = sorted(f.key for rp in points.values() for f in rp.files)
        assert keys == [i.key for i in store.list("prod/")]
        assert all(store.check(f.key, f.size, f.sha256) is None
                   for rp in points.values() for f in rp.files)
        assert len(load_rooms(env, points["room-export"])) == sim.state.room_count
        assert export(env, dep).items["room-export"][0] == "unchanged"
        with Simulator(SimOptions(empty=True, password=PASSWORD)) as fresh:
            ctx = restore_steps.StepContext(env, dep, target_url=fresh.url)
            try:
                said = restore_steps.do_restore_backup(ctx, points["config-backup"].id)
            finally:
                ctx.close()
            assert "uploaded" in said and fresh.state.room_count == sim.state.room_count
    finally:
        env.close()
