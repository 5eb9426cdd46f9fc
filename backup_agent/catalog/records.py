"""What the catalog keeps: runs, restore points and their files, restores and their steps.

Plain records and closed sets, nothing of how they are stored. The enums are ``StrEnum``: a
member is its stored string (``RunOutcome.COMPLETED == "completed"``), so the catalog's rows,
the JSON and the tests read the same values as before. Nothing secret is ever kept here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from backup_agent.timefmt import iso


class Kind(StrEnum):
    """What a restore point is."""

    CONFIG_BACKUP = "config-backup"
    ROOM_EXPORT = "room-export"
    INVENTORY = "inventory"
    SNAPSHOT = "snapshot"
    CHECKPOINT = "checkpoint"


_KINDS: dict[str, Kind] = {k.value: k for k in Kind}


class ItemState(StrEnum):
    """How one item of a run ended. ``skipped``: not attempted by design (its reason says why)."""

    OK = "ok"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunOutcome(StrEnum):
    """How a run ended, decided from its items."""

    COMPLETED = "completed"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"


class RestoreState(StrEnum):
    """Where a restore stands in the journal."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class StepState(StrEnum):
    """Where one step of a restore stands; ``pending`` is never written, only not yet journalled."""

    PENDING = "pending"
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


KINDS = tuple(k.value for k in Kind)
OUTCOMES = tuple(o.value for o in RunOutcome)
ITEM_OUTCOMES = tuple(s.value for s in ItemState)
STEP_STATES = tuple(s.value for s in StepState if s is not StepState.PENDING)
RESTORE_STATES = tuple(s.value for s in RestoreState)
# Restore point data the agent keeps for itself, not shown by `list` (a passphrase verifier).
INTERNAL_DATA = frozenset({"passphrase_check", "passphrase_ref"})


@dataclass(frozen=True)
class FileRecord:
    """One file of a restore point: its name, its key in the store, and what it must hash to."""

    name: str
    key: str  # the file's key in the store (see backup_agent.store.layout)
    sha256: str
    size: int


@dataclass
class RestorePoint:
    """Something a deployment can be restored from (or planned with: the inventory)."""

    id: str
    kind: Kind
    deployment: str
    taken_at: datetime
    version: str | None = None
    build: str | None = None
    node: str | None = None
    provider: str | None = None
    verified: bool = False
    run_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    files: list[FileRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A dict lookup, not Enum's call: a listing makes 10,000 points.
        kind = _KINDS.get(self.kind) if isinstance(self.kind, str) else None
        if kind is None:
            raise ValueError(f"unknown restore point kind {self.kind}")
        self.kind = kind

    def to_dict(self, locate: Callable[[str], str] | None = None) -> dict[str, Any]:
        """The ``list --json`` shape; each file's ``path`` is where ``locate`` says its key is."""
        out: dict[str, Any] = {
            "id": self.id, "kind": str(self.kind), "deployment": self.deployment,
            "taken_at": iso(self.taken_at), "version": self.version, "build": self.build,
            "verified": self.verified,
            "files": [{"name": f.name, "key": f.key, "path": locate(f.key) if locate else f.key,
                       "sha256": f.sha256, "size": f.size} for f in self.files],
        }
        if self.node:
            out["node"] = self.node
        if self.provider:
            out["provider"] = self.provider
        out.update({k: v for k, v in self.data.items() if k not in out and k not in INTERNAL_DATA})
        return out


@dataclass(frozen=True)
class CopyRecord:
    """One file of a restore point copied to an off-site store: what is there and what it hashes to.

    ``sha256``/``size`` are of the stored object (the ciphertext when ``encrypted``);
    ``source_sha256`` is of the local file it was made from. ``verified`` is the last read-back's
    verdict (None: never checked since the copy).
    """

    restore_point_id: str
    store: str
    name: str
    key: str
    sha256: str
    size: int
    source_sha256: str
    encrypted: bool
    copied_at: datetime
    verified: bool | None = None
    checked_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"restore_point": self.restore_point_id, "store": self.store, "name": self.name,
                "key": self.key, "sha256": self.sha256, "size": self.size,
                "encrypted": self.encrypted, "copied_at": iso(self.copied_at),
                "verified": self.verified,
                "checked_at": iso(self.checked_at) if self.checked_at else None}


@dataclass
class Run:
    """One execution of a job. Its outcome comes from its items, never from logs."""

    id: str
    deployment: str
    job: str
    started_at: datetime
    items: dict[str, tuple[ItemState, str | None]] = field(default_factory=dict)
    finished_at: datetime | None = None
    outcome: RunOutcome | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    # The items that make the restore points the run exists for (empty: every item counts).
    purpose: frozenset[str] = field(default_factory=frozenset)
    actor: str | None = None  # who started it: cli:USER, schedule, token:NAME (None: before 0006)

    def item(self, name: str, outcome: str, reason: str | None = None) -> None:
        """Record how item ``name`` ended (an :class:`ItemState` or its string)."""
        try:
            self.items[name] = (ItemState(outcome), reason)
        except ValueError:
            raise ValueError(f"unknown item outcome {outcome}") from None

    def decide(self) -> RunOutcome:
        """failed when no ``purpose`` item succeeded, partially_failed when an item failed,
        else completed: an inventory refresh alone is no backup.

        A skipped item is neither: it was not attempted by design (its reason says why).
        """
        outcomes = [o for o, _ in self.items.values()]
        made = [o for n, (o, _) in self.items.items() if not self.purpose or n in self.purpose]
        if not any(o in (ItemState.OK, ItemState.UNCHANGED) for o in made):
            return RunOutcome.FAILED
        return RunOutcome.PARTIALLY_FAILED if ItemState.FAILED in outcomes else RunOutcome.COMPLETED

    def failures(self) -> list[tuple[str, str]]:
        """(item, reason) of every failed item."""
        return [(n, r or "") for n, (o, r) in self.items.items() if o is ItemState.FAILED]

    def to_dict(self) -> dict[str, Any]:
        """The run as ``--json`` shows it."""
        return {
            "id": self.id, "deployment": self.deployment, "job": self.job,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at) if self.finished_at else None,
            "outcome": str(self.outcome) if self.outcome else None,
            "actor": self.actor,
            "items": [{"item": n, "outcome": str(o), "reason": r}
                      for n, (o, r) in self.items.items()],
            "summary": self.summary,
        }


@dataclass
class JournalStep:
    """One step of a restore as journalled."""

    number: int
    title: str
    action: str
    automated: bool
    state: StepState
    started_at: datetime | None = None
    finished_at: datetime | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The step as ``restore --journal --json`` shows it."""
        return {"step": self.number, "title": self.title, "action": self.action,
                "automated": self.automated, "state": str(self.state),
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
    state: RestoreState
    path: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    finished_at: datetime | None = None
    steps: dict[int, JournalStep] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The steps as planned, all pending until the journal says otherwise.
        for i, step in enumerate(self.path.get("steps", []), 1):
            self.steps.setdefault(i, JournalStep(i, step["title"], step["action"],
                                                 step["automated"], StepState.PENDING))

    def first_open_step(self) -> int | None:
        """The first step not ``done`` or ``skipped``: where ``--resume`` continues."""
        for number in sorted(self.steps):
            if self.steps[number].state not in (StepState.DONE, StepState.SKIPPED):
                return number
        return None

    def to_dict(self) -> dict[str, Any]:
        """The restore and its journal as JSON-ready data."""
        return {"id": self.id, "deployment": self.deployment, "path": self.path_number,
                "kind": self.kind, "target": self.target, "restore_point": self.restore_point,
                "state": str(self.state), "started_at": iso(self.started_at),
                "finished_at": iso(self.finished_at) if self.finished_at else None,
                "options": self.options,
                "steps": [self.steps[n].to_dict() for n in sorted(self.steps)]}


@dataclass(frozen=True)
class RunPruning:
    """What pruning the run history of a deployment removed (or, dry, would remove)."""

    removed: int  # runs past both bounds, not referred to
    referenced: int  # runs past both bounds kept because a restore point refers to them
    total: int  # runs of the deployment before pruning

    def to_dict(self) -> dict[str, int]:
        return {"removed": self.removed, "kept_referenced": self.referenced, "total": self.total}
