"""The catalog: runs, restore points and last contact, in SQLite (WAL).

Schema changes are named migrations, applied in order and recorded in ``migrations``. Nothing
secret is ever stored here: restore points carry ids, hashes, versions and counts, not PINs
or passphrases. Times are stored as ISO 8601 UTC strings.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backup_agent.errors import CatalogError, ConfigError

KINDS = ("config-backup", "room-export", "inventory", "snapshot", "checkpoint")
OUTCOMES = ("completed", "partially_failed", "failed")
ITEM_OUTCOMES = ("ok", "unchanged", "failed", "skipped")
# How long a write waits for another process's write (the daemon's, a manual run's).
BUSY_TIMEOUT_MS = 10_000
# Restore point data the agent keeps for itself, not shown by `list` (a passphrase verifier).
INTERNAL_DATA = frozenset({"passphrase_check"})

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_initial", """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, deployment TEXT NOT NULL, job TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT, outcome TEXT, summary TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE run_items (
            run_id TEXT NOT NULL REFERENCES runs(id), item TEXT NOT NULL, outcome TEXT NOT NULL,
            reason TEXT, PRIMARY KEY (run_id, item)
        );
        CREATE TABLE restore_points (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, deployment TEXT NOT NULL,
            taken_at TEXT NOT NULL, version TEXT, build TEXT, node TEXT, provider TEXT,
            verified INTEGER NOT NULL DEFAULT 0, run_id TEXT, data TEXT NOT NULL DEFAULT '{}',
            deleted_at TEXT
        );
        CREATE INDEX restore_points_by_kind ON restore_points (deployment, kind, taken_at);
        CREATE TABLE files (
            restore_point_id TEXT NOT NULL REFERENCES restore_points(id), name TEXT NOT NULL,
            path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
            PRIMARY KEY (restore_point_id, name)
        );
        CREATE TABLE contacts (
            deployment TEXT PRIMARY KEY, last_contact TEXT, last_error TEXT, last_error_at TEXT
        );
    """),
    # The restore journal (backup_agent/journal.py): one row per restore, one per step.
    ("0002_restore_journal", """
        CREATE TABLE restores (
            id TEXT PRIMARY KEY, deployment TEXT NOT NULL, path_number INTEGER NOT NULL,
            kind TEXT NOT NULL, target TEXT NOT NULL, restore_point TEXT,
            started_at TEXT NOT NULL, finished_at TEXT, state TEXT NOT NULL,
            path TEXT NOT NULL, options TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE restore_steps (
            restore_id TEXT NOT NULL REFERENCES restores(id), step INTEGER NOT NULL,
            title TEXT NOT NULL, action TEXT NOT NULL, automated INTEGER NOT NULL,
            state TEXT NOT NULL, started_at TEXT, finished_at TEXT, detail TEXT,
            PRIMARY KEY (restore_id, step)
        );
        CREATE INDEX restores_by_deployment ON restores (deployment, started_at);
    """),
]


def iso(t: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second: the catalog's and the JSON's time format."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class FileRecord:
    name: str
    path: str  # relative to the store root
    sha256: str
    size: int


@dataclass
class RestorePoint:
    id: str
    kind: str
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

    def to_dict(self, store_root: Path | None = None) -> dict[str, Any]:
        """The ``list --json`` shape; file paths absolute when ``store_root`` is given."""
        def abspath(rel: str) -> str:
            return str((store_root / rel).resolve()) if store_root else rel
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "deployment": self.deployment,
            "taken_at": iso(self.taken_at), "version": self.version, "build": self.build,
            "verified": self.verified,
            "files": [{"name": f.name, "path": abspath(f.path), "sha256": f.sha256, "size": f.size}
                      for f in self.files],
        }
        if self.node:
            out["node"] = self.node
        if self.provider:
            out["provider"] = self.provider
        out.update({k: v for k, v in self.data.items() if k not in out and k not in INTERNAL_DATA})
        return out


@dataclass
class Run:
    """One execution of a job. Its outcome comes from its items, never from logs."""

    id: str
    deployment: str
    job: str
    started_at: datetime
    items: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    finished_at: datetime | None = None
    outcome: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    # The items that make the restore points the run exists for (empty: every item counts).
    purpose: frozenset[str] = field(default_factory=frozenset)

    def item(self, name: str, outcome: str, reason: str | None = None) -> None:
        if outcome not in ITEM_OUTCOMES:
            raise ValueError(f"unknown item outcome {outcome}")
        self.items[name] = (outcome, reason)

    def decide(self) -> str:
        """failed when no ``purpose`` item succeeded, partially_failed when an item failed,
        else completed: an inventory refresh alone is no backup.

        A skipped item is neither: it was not attempted by design (its reason says why).
        """
        outcomes = [o for o, _ in self.items.values()]
        made = [o for n, (o, _) in self.items.items() if not self.purpose or n in self.purpose]
        if not any(o in ("ok", "unchanged") for o in made):
            return "failed"
        return "partially_failed" if "failed" in outcomes else "completed"

    def failures(self) -> list[tuple[str, str]]:
        return [(n, r or "") for n, (o, r) in self.items.items() if o == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "deployment": self.deployment, "job": self.job,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at) if self.finished_at else None,
            "outcome": self.outcome,
            "items": [{"item": n, "outcome": o, "reason": r} for n, (o, r) in self.items.items()],
            "summary": self.summary,
        }


class Catalog:
    """SQLite catalog. One connection, serialised by a lock: writes are small and rare."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise ConfigError(f"storage.path {self.path.parent} is not a directory "
                              "(the store and the catalog live under it)")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.path.chmod(0o600)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_MS)}")
            self._migrate()
        except sqlite3.Error as exc:
            raise CatalogError(f"cannot open catalog {self.path}: {exc}") from exc
        except OSError as exc:
            raise CatalogError(f"cannot open catalog {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self._db.close()

    def _error(self, exc: sqlite3.Error) -> CatalogError:
        hint = "; another process holds it, retry when it is done" if "locked" in str(exc) else ""
        return CatalogError(f"catalog {self.path}: {exc}{hint}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # sqlite3 errors (locked, disk full, a duplicate id) become one line, not a traceback.
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(args)).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        done = {r[0] for r in self._db.execute("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            with self._tx() as db:
                for stmt in filter(str.strip, sql.split(";")):
                    db.execute(stmt)
                db.execute("INSERT INTO migrations VALUES (?, ?)", (name, iso(datetime.now(UTC))))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, for record types kept in modules of their own (the journal)."""
        with self._tx() as db:
            yield db

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query, for record types kept in modules of their own."""
        return self._read(sql, args)

    def migrations(self) -> list[str]:
        return [r[0] for r in self._read("SELECT name FROM migrations ORDER BY name")]

    # -- runs -------------------------------------------------------------------------------
    def start_run(self, deployment: str, job: str, now: datetime) -> Run:
        run = Run(id=f"run-{job}-{deployment}-{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}",
                  deployment=deployment, job=job, started_at=now)
        with self._tx() as db:
            db.execute("INSERT INTO runs (id, deployment, job, started_at) VALUES (?,?,?,?)",
                       (run.id, deployment, job, iso(now)))
        return run

    def finish_run(self, run: Run, now: datetime) -> Run:
        run.finished_at, run.outcome = now, run.decide()
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at=?, outcome=?, summary=? WHERE id=?",
                       (iso(now), run.outcome, json.dumps(run.summary), run.id))
            db.executemany("INSERT OR REPLACE INTO run_items VALUES (?,?,?,?)",
                           [(run.id, n, o, r) for n, (o, r) in run.items.items()])
        return run

    def runs(self, deployment: str | None = None, limit: int = 50) -> list[Run]:
        sql = "SELECT id, deployment, job, started_at, finished_at, outcome, summary FROM runs"
        args: tuple[Any, ...] = ()
        if deployment:
            sql, args = sql + " WHERE deployment=?", (deployment,)
        rows = self._read(sql + " ORDER BY started_at DESC LIMIT ?", (*args, limit))
        out = []
        for r in rows:
            run = Run(id=r[0], deployment=r[1], job=r[2], started_at=parse_iso(r[3]),
                      finished_at=parse_iso(r[4]) if r[4] else None, outcome=r[5],
                      summary=json.loads(r[6]))
            for item, outcome, reason in self._read(
                    "SELECT item, outcome, reason FROM run_items WHERE run_id=?", (run.id,)):
                run.items[item] = (outcome, reason)
            out.append(run)
        return out

    # -- restore points ---------------------------------------------------------------------
    def new_id(self, prefix: str, deployment: str, now: datetime) -> str:
        """A readable, unique id such as ``cb-prod-20261126T101502Z``."""
        base = f"{prefix}-{deployment}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        candidate, n = base, 1
        while self._read("SELECT 1 FROM restore_points WHERE id=?", (candidate,)):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def add_restore_point(self, rp: RestorePoint) -> None:
        if rp.kind not in KINDS:
            raise ValueError(f"unknown restore point kind {rp.kind}")
        with self._tx() as db:
            db.execute(
                "INSERT INTO restore_points (id, kind, deployment, taken_at, version, build, node,"
                " provider, verified, run_id, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (rp.id, rp.kind, rp.deployment, iso(rp.taken_at), rp.version, rp.build, rp.node,
                 rp.provider, int(rp.verified), rp.run_id, json.dumps(rp.data, sort_keys=True)))
            db.executemany("INSERT INTO files VALUES (?,?,?,?,?)",
                           [(rp.id, f.name, f.path, f.sha256, f.size) for f in rp.files])

    def update_data(self, rp_id: str, **changes: Any) -> None:
        """Merge ``changes`` into a restore point's data (e.g. ``confirmed_at``)."""
        with self._tx() as db:
            row = db.execute("SELECT data FROM restore_points WHERE id=?", (rp_id,)).fetchone()
            if row is None:
                raise CatalogError(f"no restore point {rp_id}")
            data = {**json.loads(row[0]), **changes}
            db.execute("UPDATE restore_points SET data=? WHERE id=?",
                       (json.dumps(data, sort_keys=True), rp_id))

    def set_verified(self, rp_id: str, verified: bool) -> None:
        with self._tx() as db:
            db.execute("UPDATE restore_points SET verified=? WHERE id=?", (int(verified), rp_id))

    def mark_deleted(self, rp_id: str, now: datetime) -> None:
        with self._tx() as db:
            db.execute("UPDATE restore_points SET deleted_at=? WHERE id=?", (iso(now), rp_id))

    def restore_points(self, deployment: str | None = None, kind: str | None = None,
                       node: str | None = None, rp_id: str | None = None,
                       limit: int | None = None) -> list[RestorePoint]:
        """Live restore points, newest first (at most ``limit``)."""
        where: list[str] = ["deleted_at IS NULL"]
        args: list[Any] = []
        for col, val in (("deployment", deployment), ("kind", kind), ("node", node), ("id", rp_id)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        # Only fixed column names are interpolated; every value is a bound parameter.
        cols = "id, kind, deployment, taken_at, version, build, node, provider, verified, run_id, data"
        sql = f"SELECT {cols} FROM restore_points WHERE {' AND '.join(where)}"  # noqa: S608
        sql += " ORDER BY taken_at DESC, id DESC"
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, limit]
        rows = self._read(sql, args)
        files: dict[str, list[FileRecord]] = {}
        ids = [r[0] for r in rows]
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT * FROM files WHERE restore_point_id IN ({marks}) ORDER BY name"  # noqa: S608
            for rid, name, path, sha, size in self._read(sql, chunk):
                files.setdefault(rid, []).append(FileRecord(name, path, sha, size))
        return [RestorePoint(id=r[0], kind=r[1], deployment=r[2], taken_at=parse_iso(r[3]),
                             version=r[4], build=r[5], node=r[6], provider=r[7],
                             verified=bool(r[8]), run_id=r[9], data=json.loads(r[10]),
                             files=files.get(r[0], [])) for r in rows]

    def restore_point(self, rp_id: str) -> RestorePoint:
        # One row by its key, not every restore point of the catalog read and filtered here.
        for rp in self.restore_points(rp_id=rp_id):
            return rp
        raise CatalogError(f"no restore point {rp_id!r} in the catalog (see `backup-agent list`)")

    def latest(self, deployment: str, kind: str) -> RestorePoint | None:
        rps = self.restore_points(deployment, kind, limit=1)
        return rps[0] if rps else None

    # -- contact ----------------------------------------------------------------------------
    def record_contact(self, deployment: str, now: datetime, error: str | None = None) -> None:
        """Remember the last time the Management Node answered (or the last failure)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO contacts (deployment) VALUES (?)", (deployment,))
            if error is None:
                db.execute("UPDATE contacts SET last_contact=? WHERE deployment=?", (iso(now), deployment))
            else:
                db.execute("UPDATE contacts SET last_error=?, last_error_at=? WHERE deployment=?",
                           (error, iso(now), deployment))

    def contact(self, deployment: str) -> dict[str, Any]:
        rows = self._read("SELECT last_contact, last_error, last_error_at FROM contacts"
                          " WHERE deployment=?", (deployment,))
        row = rows[0] if rows else None
        if row is None:
            return {"last_contact": None, "last_error": None, "last_error_at": None}
        return {"last_contact": row[0], "last_error": row[1], "last_error_at": row[2]}


def _chunks(items: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]
