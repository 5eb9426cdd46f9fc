"""The restore journal: every step of every restore, kept in the catalog.

A restore is one walk of one plan path. Its row keeps the path as it was planned (steps with
their actions), so ``restore --resume`` continues the same walk even when a re-plan would now
say something else, and the journal is the incident record: who did what, when, and how it
ended. Step states: ``started``, ``done``, ``failed``, ``skipped``. Nothing secret is written:
details are what the agent prints. The journal decides the state changes; the catalog keeps
them (no SQL here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backup_agent.catalog import Catalog, JournalStep, Restore, RestoreState, StepState
from backup_agent.errors import CatalogError

__all__ = ["Journal", "JournalStep", "Restore"]


class Journal:
    """Reads and writes restores and their steps in a :class:`Catalog`."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def start(self, deployment: str, path: dict[str, Any], options: dict[str, Any],
              now: datetime) -> Restore:
        """Record a new restore of ``path`` (the plan JSON of one path plus its step actions)."""
        return self.catalog.start_restore(deployment, path, options, now)

    def step(self, restore: Restore, number: int, state: str, now: datetime,
             detail: str | None = None) -> None:
        """Record that step ``number`` of ``restore`` is now ``state``."""
        try:
            new = StepState(state)
        except ValueError:
            raise ValueError(f"unknown step state {state}") from None
        if new is StepState.PENDING:
            raise ValueError("a step is never journalled back to pending")
        js = restore.steps[number]
        js.state, js.detail = new, detail
        if new is StepState.STARTED:
            js.started_at, js.finished_at = now, None
        else:
            js.started_at = js.started_at or now
            js.finished_at = now
        self.catalog.record_step(restore.id, js)

    def finish(self, restore: Restore, state: str, now: datetime) -> None:
        """Close ``restore`` as ``completed``, ``failed`` or ``interrupted``."""
        try:
            restore.state = RestoreState(state)
        except ValueError:
            raise ValueError(f"unknown restore state {state}") from None
        restore.finished_at = now
        self.catalog.set_restore_state(restore.id, restore.state, now)

    def reopen(self, restore: Restore, now: datetime) -> None:
        """Mark a resumed restore running again."""
        restore.state, restore.finished_at = RestoreState.RUNNING, None
        self.catalog.set_restore_state(restore.id, RestoreState.RUNNING, None)

    def get(self, restore_id: str) -> Restore:
        """One restore and its steps; a clear error when there is none."""
        found = self.catalog.restores(restore_id=restore_id, limit=1)
        if not found:
            raise CatalogError(f"no restore {restore_id!r} in the journal "
                               "(see `backup-agent restore --journal`)")
        return found[0]

    def latest(self, deployment: str, unfinished: bool = False) -> Restore | None:
        """The newest restore of ``deployment`` (only one not completed with ``unfinished``)."""
        found = self.catalog.restores(deployment, limit=1, unfinished=unfinished)
        return found[0] if found else None

    def restores(self, deployment: str | None = None, limit: int = 20) -> list[Restore]:
        """Restores, newest first."""
        return self.catalog.restores(deployment, limit=limit)
