"""The restore journal: migration onto an existing catalog, step states, resume point, listing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_agent.catalog import MIGRATIONS, RestoreState, StepState, open_catalog
from backup_agent.errors import CatalogError
from backup_agent.journal import Journal

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PATH = {"number": 2, "kind": "restore-backup", "target": "mgr01", "restore_point": "cb-1",
        "steps": [{"title": "Check", "automated": True, "detail": "", "action": "check"},
                  {"title": "Deploy", "automated": False, "detail": "", "action": "deploy-management"},
                  {"title": "Restore", "automated": True, "detail": "", "action": "restore-backup",
                   "ref": "cb-1"}]}


def test_migration_applies_to_a_catalog_made_before_it(tmp_path: Path) -> None:
    """A catalog.db made before the journal existed (made here with sqlite3, as it was)."""
    db = sqlite3.connect(tmp_path / "c.db")
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    db.executescript(dict(MIGRATIONS)["0001_initial"])
    db.execute("INSERT INTO migrations VALUES ('0001_initial', '2026-11-01T00:00:00Z')")
    db.commit()
    db.close()
    cat = open_catalog(tmp_path / "c.db")
    assert "0002_restore_journal" in cat.migrations()
    assert Journal(cat).restores() == []
    cat.close()


def test_steps_states_and_the_resume_point(tmp_path: Path) -> None:
    cat = open_catalog(tmp_path / "c.db")
    journal = Journal(cat)
    r = journal.start("prod", PATH, {"target_url": "https://new"}, T0)
    assert r.first_open_step() == 1
    journal.step(r, 1, "started", T0)
    journal.step(r, 1, "done", T0 + timedelta(seconds=5), "3 prerequisite(s) met")
    journal.step(r, 2, "started", T0 + timedelta(seconds=6))
    journal.step(r, 2, "failed", T0 + timedelta(seconds=9), "not confirmed by the operator")
    journal.finish(r, "interrupted", T0 + timedelta(seconds=9))
    back = journal.latest("prod", unfinished=True)
    assert back is not None and back.id == r.id and back.state == "interrupted"
    assert back.first_open_step() == 2
    assert [s.state for s in back.steps.values()] == ["done", "failed", "pending"]
    assert back.steps[1].finished_at == T0 + timedelta(seconds=5)
    assert back.options == {"target_url": "https://new"}
    journal.reopen(back, T0 + timedelta(minutes=1))
    for n in (2, 3):
        journal.step(back, n, "done", T0 + timedelta(minutes=2), "ok")
    journal.finish(back, "completed", T0 + timedelta(minutes=2))
    assert journal.latest("prod", unfinished=True) is None
    assert journal.get(r.id).to_dict()["state"] == "completed"
    second = journal.start("prod", PATH, {}, T0)
    assert second.id != r.id, "two restores in the same second get distinct ids"
    assert {x.id for x in journal.restores("prod")} == {r.id, second.id}
    with pytest.raises(CatalogError, match="no restore"):
        journal.get("restore-nope")
    with pytest.raises(ValueError):
        journal.step(second, 1, "exploded", T0)
    with pytest.raises(ValueError):
        journal.finish(second, "exploded", T0)
    cat.close()


def test_states_are_closed_sets_read_back_as_enums(tmp_path: Path) -> None:
    cat = open_catalog(tmp_path / "c.db")
    journal = Journal(cat)
    r = journal.start("prod", PATH, {}, T0)
    journal.step(r, 1, "skipped", T0)
    back = journal.get(r.id)
    assert back.state is RestoreState.RUNNING and back.steps[1].state is StepState.SKIPPED
    assert back.steps[2].state is StepState.PENDING and back.first_open_step() == 2
    assert back.to_dict()["steps"][0]["state"] == "skipped"
    with pytest.raises(ValueError, match="pending"):
        journal.step(r, 2, "pending", T0)
    cat.close()


def test_restores_started_in_the_same_second_by_two_catalogs(tmp_path: Path) -> None:
    """Two processes (two connections) starting a restore in the same second: two ids, both kept."""
    first, second = open_catalog(tmp_path / "c.db"), open_catalog(tmp_path / "c.db")
    a = Journal(first).start("prod", PATH, {}, T0)
    b = Journal(second).start("prod", PATH, {}, T0)
    assert a.id != b.id
    assert {x.id for x in Journal(first).restores("prod")} == {a.id, b.id}
    first.close()
    second.close()
