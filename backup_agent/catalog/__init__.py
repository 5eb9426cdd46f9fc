"""The catalog: runs, restore points, last contact and the restore journal.

- :mod:`~backup_agent.catalog.records` — the records and closed enums (no storage);
- :mod:`~backup_agent.catalog.base` — the :class:`Catalog` Protocol the jobs see;
- :mod:`~backup_agent.catalog.sqlite` — the SQLite implementation, holding all the SQL, with
  its schema's named migrations in :mod:`~backup_agent.catalog.schema`.

Times are formatted and parsed by :mod:`backup_agent.timefmt` (re-exported as ``iso`` and
``parse_iso``).
"""

from __future__ import annotations

from pathlib import Path

from backup_agent.catalog.base import Catalog
from backup_agent.catalog.records import (
    INTERNAL_DATA,
    ITEM_OUTCOMES,
    KINDS,
    OUTCOMES,
    RESTORE_STATES,
    STEP_STATES,
    CopyRecord,
    FileRecord,
    ItemState,
    JournalStep,
    Kind,
    Restore,
    RestorePoint,
    RestoreState,
    Run,
    RunOutcome,
    RunPruning,
    StepState,
)
from backup_agent.catalog.schema import MIGRATIONS
from backup_agent.catalog.sqlite import SQLiteCatalog
from backup_agent.timefmt import iso, parse_iso


def open_catalog(path: Path) -> Catalog:
    """The catalog kept at ``path`` (``catalog.db`` under the storage path)."""
    return SQLiteCatalog(path)


__all__ = ["INTERNAL_DATA", "ITEM_OUTCOMES", "KINDS", "MIGRATIONS", "OUTCOMES", "RESTORE_STATES",
           "STEP_STATES", "Catalog", "CopyRecord", "FileRecord", "ItemState", "JournalStep", "Kind",
           "Restore", "RestorePoint", "RestoreState", "Run", "RunOutcome", "RunPruning",
           "SQLiteCatalog", "StepState", "iso", "open_catalog", "parse_iso"]
