"""The restore journal: every step of every restore, kept in the catalog.

A restore is one walk of one plan path. Its row keeps the path as it was planned (steps with
their actions), so ``restore --resume`` continues the same walk even when a re-plan would now
say something else, and the journal is the incident record: who did what, when, and how it
ended. Step states: ``started``, ``done``, ``failed``, ``skipped``. Nothing secret is written:
details are what the agent prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backup_agent.catalog import Catalog, iso, parse_iso
from backup_agent.errors import CatalogError

STEP_STATES = ("started", "done", "failed", "skipped")
RESTORE_STATES = ("running", "completed", "failed", "interrupted")


@dataclass
class JournalStep:
    """One step of a restore as journalled."""

    number: int
    title: str
    action: str
    automated: bool
    state: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The step as ``restore --journal --json`` shows it."""
        return {"step": self.number, "title": self.title, "action": self.action,
                "automated": self.automated, "state": self.state,
                "started_at": iso(self.started_at) if self.started_at else None,
                "finished_at": iso(self.finished_at) if self.finished_at else None,
                "detail": self.detail}


@dataclass
class Restore:
    """One restore: the path walked, its options, and the journal of its steps."""

    id: str
    deployment: str
    path_number: int
    kind: str
    target: str
    restore_point: str | None
    started_at: datetime
    state: str
    path: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    finished_at: datetime | None = None
    steps: dict[int, JournalStep] = field(default_factory=dict)

    def first_open_step(self) -> int | None:
        """The first step not ``done`` or ``skipped``: where ``--resume`` continues."""
        for number in sorted(self.steps):
            if self.steps[number].state not in ("done", "skipped"):
                return number
        return None

    def to_dict(self) -> dict[str, Any]:
        """The restore and its journal as JSON-ready data."""
        return {"id": self.id, "deployment": self.deployment, "path": self.path_number,
                "kind": self.kind, "target": self.target, "restore_point": self.restore_point,
                "state": self.state, "started_at": iso(self.started_at),
                "finished_at": iso(self.finished_at) if self.finished_at else None,
                "options": self.options,
                "steps": [self.steps[n].to_dict() for n in sorted(self.steps)]}


class Journal:
    """Reads and writes restores and their steps in a :class:`Catalog`."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def start(self, deployment: str, path: dict[str, Any], options: dict[str, Any],
              now: datetime) -> Restore:
        """Record a new restore of ``path`` (the plan JSON of one path plus its step actions)."""
        base = f"restore-{deployment}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        rid, n = base, 1
        while self.catalog.query("SELECT 1 FROM restores WHERE id=?", (rid,)):
            n += 1
            rid = f"{base}-{n}"
        restore = Restore(rid, deployment, int(path["number"]), path["kind"], path["target"],
                          path.get("restore_point"), now, "running", path, options)
        for i, step in enumerate(path["steps"], 1):
            restore.steps[i] = JournalStep(i, step["title"], step["action"], step["automated"],
                                           "pending")
        with self.catalog.transaction() as db:
            db.execute("INSERT INTO restores (id, deployment, path_number, kind, target, "
                       "restore_point, started_at, state, path, options) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (rid, deployment, restore.path_number, restore.kind, restore.target,
                        restore.restore_point, iso(now), "running", json.dumps(path),
                        json.dumps(options)))
        return restore

    def step(self, restore: Restore, number: int, state: str, now: datetime,
             detail: str | None = None) -> None:
        """Record that step ``number`` of ``restore`` is now ``state``."""
        if state not in STEP_STATES:
            raise ValueError(f"unknown step state {state}")
        js = restore.steps[number]
        js.state, js.detail = state, detail
        if state == "started":
            js.started_at, js.finished_at = now, None
        else:
            js.started_at = js.started_at or now
            js.finished_at = now
        with self.catalog.transaction() as db:
            db.execute("INSERT OR REPLACE INTO restore_steps VALUES (?,?,?,?,?,?,?,?,?)",
                       (restore.id, number, js.title, js.action, int(js.automated), state,
                        iso(js.started_at), iso(js.finished_at) if js.finished_at else None,
                        detail))

    def finish(self, restore: Restore, state: str, now: datetime) -> None:
        """Close ``restore`` as ``completed``, ``failed`` or ``interrupted``."""
        if state not in RESTORE_STATES:
            raise ValueError(f"unknown restore state {state}")
        restore.state, restore.finished_at = state, now
        with self.catalog.transaction() as db:
            db.execute("UPDATE restores SET state=?, finished_at=? WHERE id=?",
                       (state, iso(now), restore.id))

    def reopen(self, restore: Restore, now: datetime) -> None:
        """Mark a resumed restore running again."""
        restore.state, restore.finished_at = "running", None
        with self.catalog.transaction() as db:
            db.execute("UPDATE restores SET state='running', finished_at=NULL WHERE id=?",
                       (restore.id,))

    def get(self, restore_id: str) -> Restore:
        """One restore and its steps; a clear error when there is none."""
        found = self._load("WHERE id=?", (restore_id,))
        if not found:
            raise CatalogError(f"no restore {restore_id!r} in the journal "
                               "(see `backup-agent restore --journal`)")
        return found[0]

    def latest(self, deployment: str, unfinished: bool = False) -> Restore | None:
        """The newest restore of ``deployment`` (only one not completed with ``unfinished``)."""
        where = "WHERE deployment=?" + (" AND state != 'completed'" if unfinished else "")
        found = self._load(where + " ORDER BY started_at DESC, id DESC LIMIT 1", (deployment,))
        return found[0] if found else None

    def restores(self, deployment: str | None = None, limit: int = 20) -> list[Restore]:
        """Restores, newest first."""
        where, args = ("WHERE deployment=?", (deployment,)) if deployment else ("", ())
        return self._load(f"{where} ORDER BY started_at DESC, id DESC LIMIT ?", (*args, limit))

    def _load(self, where: str, args: tuple[Any, ...]) -> list[Restore]:
        cols = ("id, deployment, path_number, kind, target, restore_point, started_at, "
                "finished_at, state, path, options")
        rows = self.catalog.query(f"SELECT {cols} FROM restores {where}", args)  # noqa: S608
        out = []
        for r in rows:
            path = json.loads(r[9])
            restore = Restore(r[0], r[1], r[2], r[3], r[4], r[5], parse_iso(r[6]), r[8], path,
                              json.loads(r[10]), parse_iso(r[7]) if r[7] else None)
            for i, step in enumerate(path["steps"], 1):
                restore.steps[i] = JournalStep(i, step["title"], step["action"], step["automated"],
                                               "pending")
            for (number, _t, _a, _au, state, started, finished, detail) in self.catalog.query(
                    "SELECT step, title, action, automated, state, started_at, finished_at, detail "
                    "FROM restore_steps WHERE restore_id=?", (restore.id,)):
                js = restore.steps[number]
                js.state, js.detail = state, detail
                js.started_at = parse_iso(started) if started else None
                js.finished_at = parse_iso(finished) if finished else None
            out.append(restore)
        return out
