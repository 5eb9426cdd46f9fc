"""The catalog contract: what jobs, commands and the planner's evidence ask of the catalog.

Records in, records out (:mod:`backup_agent.catalog.records`); no SQL, no connection. The
SQLite catalog (:mod:`backup_agent.catalog.sqlite`) is the first implementation; a PostgreSQL
one implements this Protocol without a job changing. Ids are allocated by the catalog, atomically:
two processes asking in the same second get different ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from backup_agent.catalog.records import (
    CopyRecord,
    JournalStep,
    Restore,
    RestorePoint,
    RestoreState,
    Run,
    RunPruning,
)


class Catalog(Protocol):
    """Runs, restore points, last contact and the restore journal of every deployment."""

    def close(self) -> None:
        """Release the catalog's connection."""
        ...

    def migrations(self) -> list[str]:
        """The names of the schema migrations applied, in order."""
        ...

    # -- runs -------------------------------------------------------------------------------
    def start_run(self, deployment: str, job: str, now: datetime, *,
                  reserved_by: str | None = None) -> Run:
        """Record a new run of ``job``, with an id of its own, started by the actor of
        :mod:`backup_agent.catalog.actor` (or take over the row reserved there for it).
        ``reserved_by``: the row is a reservation of that live process (summary
        ``reserved_by`` until the run finishes), in the same insert."""
        ...

    def finish_run(self, run: Run, now: datetime) -> Run:
        """Decide the run's outcome from its items and record it with them."""
        ...

    def runs(self, deployment: str | None = None, limit: int = 50,
             job: str | None = None, run_id: str | None = None) -> list[Run]:
        """Runs (of ``job``, or the one ``run_id``, when given), newest first, with their items."""
        ...

    def latest_runs(self, deployment: str) -> list[Run]:
        """The newest run of each job of ``deployment``, with its items, by job name."""
        ...

    def prune_runs(self, deployment: str, before: datetime, keep_last: int,
                   dry_run: bool = False) -> RunPruning:
        """Remove (``dry_run``: count) the runs of ``deployment`` started before ``before``
        that are not among the ``keep_last`` newest of their job, not still running and not
        referred to by a restore point (its ``run_id``, or the retention run that removed it)."""
        ...

    # -- restore points ---------------------------------------------------------------------
    def new_id(self, prefix: str, deployment: str, now: datetime) -> str:
        """Reserve a readable restore point id (``cb-prod-20261126T101502Z``), never handed
        out twice, even to two processes asking in the same second."""
        ...

    def add_restore_point(self, rp: RestorePoint) -> None:
        """Record a restore point with its files (its id from :meth:`new_id`)."""
        ...

    def update_data(self, rp_id: str, **changes: Any) -> None:
        """Merge ``changes`` into a restore point's data (e.g. ``confirmed_at``)."""
        ...

    def set_verified(self, rp_id: str, verified: bool) -> None:
        """Record whether the restore point's files hash right."""
        ...

    def mark_deleted(self, rp_id: str, now: datetime) -> None:
        """Hide a restore point whose artifact is gone (it stays in the history)."""
        ...

    def restore_points(self, deployment: str | None = None, kind: str | None = None,
                       node: str | None = None, rp_id: str | None = None,
                       limit: int | None = None, deleted: bool = False) -> list[RestorePoint]:
        """Live restore points, newest first (at most ``limit``); with ``deleted``, the hidden
        ones instead (retention finishes a removal a crash interrupted from them)."""
        ...

    def point_records(self, deployment: str | None = None, kind: str | None = None,
                      locate: Callable[[str], str] | None = None) -> list[dict[str, Any]]:
        """``restore_points(deployment, kind)`` as ``list --json`` shows them, each point's
        ``RestorePoint.to_dict(locate)``, made without the RestorePoints (10,000 of them)."""
        ...

    def restore_point(self, rp_id: str) -> RestorePoint:
        """One restore point; CatalogError when there is none."""
        ...

    def latest(self, deployment: str, kind: str) -> RestorePoint | None:
        """The newest live restore point of ``kind``."""
        ...

    # -- off-site copies -------------------------------------------------------------------
    def add_copy(self, copy: CopyRecord) -> None:
        """Record one file copied to an off-site store (replacing a previous record of it)."""
        ...

    def copies(self, store: str | None = None, rp_id: str | None = None) -> list[CopyRecord]:
        """Copies recorded, by restore point and name (only those of live restore points)."""
        ...

    def set_copy_verified(self, rp_id: str, store: str, name: str, verified: bool,
                          now: datetime) -> None:
        """Record the verdict of reading one copy back."""
        ...

    def remove_copies(self, rp_id: str, store: str) -> None:
        """Forget every copy of ``rp_id`` in ``store`` (retention deleted the objects)."""
        ...

    def passphrase_salt(self) -> bytes:
        """This catalog's random salt for passphrase fingerprints (not a secret)."""
        ...

    # -- contact ----------------------------------------------------------------------------
    def record_contact(self, deployment: str, now: datetime, error: str | None = None) -> None:
        """Remember the last time the Management Node answered (or the last failure)."""
        ...

    def contact(self, deployment: str) -> dict[str, Any]:
        """``last_contact``, ``last_error``, ``last_error_at`` (ISO strings or None)."""
        ...

    # -- the restore journal ----------------------------------------------------------------
    def start_restore(self, deployment: str, path: dict[str, Any], options: dict[str, Any],
                      now: datetime) -> Restore:
        """Record a new restore of ``path`` (running), with an id of its own."""
        ...

    def record_step(self, restore_id: str, step: JournalStep) -> None:
        """Record a step of a restore as it now stands."""
        ...

    def set_restore_state(self, restore_id: str, state: RestoreState,
                          finished_at: datetime | None) -> None:
        """Record where a restore stands (``finished_at`` None while it runs)."""
        ...

    def restores(self, deployment: str | None = None, limit: int = 20,
                 restore_id: str | None = None, unfinished: bool = False) -> list[Restore]:
        """Restores with their steps, newest first (only those not completed with ``unfinished``)."""
        ...
