"""The SQLite catalog (WAL): every SQL statement the agent runs is in this module.

Schema changes are the named migrations of :mod:`backup_agent.catalog.schema`, applied in
order and recorded in ``migrations``. Nothing secret is stored: restore points carry ids,
hashes, versions and counts, not PINs or passphrases. Times are ISO 8601 UTC strings
(:mod:`backup_agent.timefmt`). Ids are allocated by a unique key in the insert (``INSERT OR
IGNORE``, then the next suffix), so two processes never get the same one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backup_agent.catalog.actor import current_actor, take_reserved
from backup_agent.catalog.records import (
    CopyRecord,
    FileRecord,
    ItemState,
    JournalStep,
    Restore,
    RestorePoint,
    RestoreState,
    Run,
    RunOutcome,
    RunPruning,
    StepState,
)
from backup_agent.catalog.rows import RECORD_COLUMNS, decode_all, point_records
from backup_agent.catalog.schema import MIGRATIONS
from backup_agent.errors import CatalogError, ConfigError
from backup_agent.timefmt import iso, parse_iso, stamp

# How long a write waits for another process's write (the daemon's, a manual run's).
BUSY_TIMEOUT_MS = 10_000
MAX_SUFFIX = 10_000  # ids tried per second and prefix before giving up (never reached)
RP_COLUMNS = "id, kind, deployment, taken_at, version, build, node, provider, verified, run_id, data"
RESTORE_COLUMNS = ("id, deployment, path_number, kind, target, restore_point, started_at, "
                   "finished_at, state, path, options")


# The newest run of each job of a deployment, by the index of 0006 alone: the jobs are found by
# a skip-scan (the next job name after the last, one index seek each) and each one's newest run
# by one more, where a GROUP BY walked every run of the deployment (2,000 a week of watches).
# Times are to the second: two runs in one second are told apart by the id, whose microseconds
# sort as they started.
LATEST_RUNS = """
    WITH RECURSIVE jobs(job) AS (
        SELECT MIN(job) FROM runs WHERE deployment = ?1
        UNION ALL
        SELECT (SELECT MIN(job) FROM runs WHERE deployment = ?1 AND job > jobs.job)
        FROM jobs WHERE jobs.job IS NOT NULL)
    SELECT r.id, r.deployment, r.job, r.started_at, r.finished_at, r.outcome, r.summary, r.actor
    FROM jobs JOIN runs r ON r.id = (SELECT id FROM runs WHERE deployment = ?1 AND job = jobs.job
                                     ORDER BY started_at DESC, id DESC LIMIT 1)
    ORDER BY r.job"""


class SQLiteCatalog:
    """The :class:`~backup_agent.catalog.base.Catalog` in one SQLite file. One connection,
    serialised by a lock: writes are small and rare."""

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
            # The busy timeout first: two processes opening a fresh catalog wait for each
            # other in the WAL switch and the migrations instead of failing "locked".
            self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_MS)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
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

    def _insert_unique(self, base: str, insert: Callable[[sqlite3.Connection, str], int]) -> str:
        """``base``, else ``base-2``, ``base-3``…: the first id ``insert`` could insert (rowcount 1)."""
        for n in range(1, MAX_SUFFIX):
            candidate = base if n == 1 else f"{base}-{n}"
            with self._tx() as db:
                if insert(db, candidate) == 1:
                    return candidate
        raise CatalogError(f"catalog {self.path}: no free id left for {base}")

    def _migrate(self) -> None:
        # One write transaction for all of it, the applied ones read inside it: a second
        # process waits, then finds them applied ("table runs already exists" before).
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
            done = {r[0] for r in db.execute("SELECT name FROM migrations")}
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                for stmt in filter(str.strip, sql.split(";")):
                    db.execute(stmt)
                db.execute("INSERT INTO migrations VALUES (?, ?)", (name, iso(datetime.now(UTC))))

    def migrations(self) -> list[str]:
        return [r[0] for r in self._read("SELECT name FROM migrations ORDER BY name")]

    # -- runs -------------------------------------------------------------------------------
    def start_run(self, deployment: str, job: str, now: datetime, *,
                  reserved_by: str | None = None) -> Run:
        actor = current_actor()
        if (reserved := take_reserved(deployment, job)) is not None:
            with self._tx() as db:  # the trigger's row, made before the job started
                taken = db.execute("UPDATE runs SET started_at=? WHERE id=? AND finished_at IS NULL",
                                   (iso(now), reserved)).rowcount
            if taken == 1:
                return Run(id=reserved, deployment=deployment, job=job, started_at=now, actor=actor)

        summary = json.dumps({"reserved_by": reserved_by} if reserved_by else {})

        def insert(db: sqlite3.Connection, rid: str) -> int:
            return db.execute("INSERT OR IGNORE INTO runs (id, deployment, job, started_at, actor, "
                              "summary) VALUES (?,?,?,?,?,?)",
                              (rid, deployment, job, iso(now), actor, summary)).rowcount

        rid = self._insert_unique(f"run-{job}-{deployment}-{stamp(now, micro=True)}", insert)
        return Run(id=rid, deployment=deployment, job=job, started_at=now, actor=actor)

    def finish_run(self, run: Run, now: datetime) -> Run:
        run.finished_at, run.outcome = now, run.decide()
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at=?, outcome=?, summary=? WHERE id=?",
                       (iso(now), str(run.outcome), json.dumps(run.summary), run.id))
            db.executemany("INSERT OR REPLACE INTO run_items VALUES (?,?,?,?)",
                           [(run.id, n, str(o), r) for n, (o, r) in run.items.items()])
        return run

    def runs(self, deployment: str | None = None, limit: int = 50,
             job: str | None = None, run_id: str | None = None) -> list[Run]:
        sql = "SELECT id, deployment, job, started_at, finished_at, outcome, summary, actor FROM runs"
        where = [(col, val) for col, val in (("deployment", deployment), ("job", job), ("id", run_id))
                 if val]
        args: tuple[Any, ...] = tuple(val for _, val in where)
        if where:  # only fixed column names are interpolated
            sql += " WHERE " + " AND ".join(f"{col}=?" for col, _ in where)
        rows = self._read(sql + " ORDER BY started_at DESC LIMIT ?", (*args, limit))
        out = {r[0]: Run(id=r[0], deployment=r[1], job=r[2], started_at=parse_iso(r[3]),
                         finished_at=parse_iso(r[4]) if r[4] else None,
                         outcome=RunOutcome(r[5]) if r[5] else None, summary=json.loads(r[6]),
                         actor=r[7]) for r in rows}
        ids = list(out)
        for start in range(0, len(ids), 500):  # the items of many runs in a few queries, not one each
            chunk = ids[start:start + 500]
            for rid, item, outcome, reason in self._read(
                    "SELECT run_id, item, outcome, reason FROM run_items "  # noqa: S608 - only ?s  # nosec B608
                    f"WHERE run_id IN ({','.join('?' * len(chunk))}) ORDER BY run_id, item", chunk):
                out[rid].items[item] = (ItemState(outcome), reason)
        return list(out.values())

    def latest_runs(self, deployment: str) -> list[Run]:
        rows = self._read(LATEST_RUNS, (deployment,))
        out = {r[0]: Run(id=r[0], deployment=r[1], job=r[2], started_at=parse_iso(r[3]),
                         finished_at=parse_iso(r[4]) if r[4] else None,
                         outcome=RunOutcome(r[5]) if r[5] else None, summary=json.loads(r[6]),
                         actor=r[7])
               for r in rows}
        marks = ",".join("?" * len(out))
        for run_id, item, outcome, reason in self._read(
                f"SELECT run_id, item, outcome, reason FROM run_items WHERE run_id IN ({marks})",  # noqa: S608  # nosec B608
                list(out)) if out else ():
            out[run_id].items[item] = (ItemState(outcome), reason)
        return list(out.values())

    def prune_runs(self, deployment: str, before: datetime, keep_last: int,
                   dry_run: bool = False) -> RunPruning:
        # Past both bounds: the rows the window numbers beyond keep_last of their job, older
        # than the cut-off, finished. Of those, the ones a restore point names are kept.
        past = ("SELECT id FROM (SELECT id, started_at, finished_at, ROW_NUMBER() OVER "
                "(PARTITION BY job ORDER BY started_at DESC, id DESC) AS nth FROM runs "
                "WHERE deployment=?) WHERE nth > ? AND started_at < ? AND finished_at IS NOT NULL")
        named = ("SELECT run_id FROM restore_points WHERE run_id IS NOT NULL UNION "
                 "SELECT json_extract(data, '$.removed_by') FROM restore_points "
                 "WHERE json_extract(data, '$.removed_by') IS NOT NULL")
        doomed = f"{past} AND id NOT IN ({named})"
        args = (deployment, keep_last, iso(before))
        with self._tx() as db:
            total = db.execute("SELECT count(*) FROM runs WHERE deployment=?",
                               (deployment,)).fetchone()[0]
            old = db.execute(f"SELECT count(*) FROM ({past})", args).fetchone()[0]  # noqa: S608  # nosec B608
            if dry_run:
                removed = db.execute(f"SELECT count(*) FROM ({doomed})", args).fetchone()[0]  # noqa: S608  # nosec B608
            else:
                db.execute("DROP TABLE IF EXISTS temp.doomed_runs")
                db.execute(f"CREATE TEMP TABLE doomed_runs AS {doomed}", args)
                db.execute("DELETE FROM run_items WHERE run_id IN (SELECT id FROM doomed_runs)")
                removed = db.execute("DELETE FROM runs WHERE id IN (SELECT id FROM doomed_runs)"
                                     ).rowcount
                db.execute("DROP TABLE doomed_runs")
        return RunPruning(removed=removed, referenced=old - removed, total=total)

    # -- restore points ---------------------------------------------------------------------
    def new_id(self, prefix: str, deployment: str, now: datetime) -> str:
        def reserve(db: sqlite3.Connection, rid: str) -> int:
            return db.execute("INSERT OR IGNORE INTO restore_point_ids (id, reserved_at) "
                              "VALUES (?, ?)", (rid, iso(now))).rowcount

        return self._insert_unique(f"{prefix}-{deployment}-{stamp(now)}", reserve)

    def add_restore_point(self, rp: RestorePoint) -> None:
        with self._tx() as db:
            # An id not reserved by new_id (made elsewhere) is reserved now, so none is reused.
            db.execute("INSERT OR IGNORE INTO restore_point_ids (id, reserved_at) VALUES (?, ?)",
                       (rp.id, iso(rp.taken_at)))
            db.execute(
                # bandit B608: only fixed column names are interpolated, every value is bound
                f"INSERT INTO restore_points ({RP_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",  # noqa: S608  # nosec B608
                (rp.id, str(rp.kind), rp.deployment, iso(rp.taken_at), rp.version, rp.build,
                 rp.node, rp.provider, int(rp.verified), rp.run_id,
                 json.dumps(rp.data, sort_keys=True)))
            db.executemany("INSERT INTO files VALUES (?,?,?,?,?)",
                           [(rp.id, f.name, f.key, f.sha256, f.size) for f in rp.files])

    def update_data(self, rp_id: str, **changes: Any) -> None:
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
                       limit: int | None = None, deleted: bool = False) -> list[RestorePoint]:
        filters = {"deployment": deployment, "kind": kind, "node": node, "id": rp_id}
        rows, file_rows = self._point_rows(RP_COLUMNS, filters, limit, deleted)
        files: dict[str, list[FileRecord]] = {r[0]: [] for r in rows}
        for f in file_rows:
            files[f[0]].append(FileRecord(f[1], f[2], f[3], f[4]))
        return [RestorePoint(id=r[0], kind=r[1], deployment=r[2], taken_at=parse_iso(r[3]),
                             version=r[4], build=r[5], node=r[6], provider=r[7],
                             verified=bool(r[8]), run_id=r[9], data=data, files=files[r[0]])
                for r, data in zip(rows, decode_all([r[10] for r in rows]), strict=True)]

    def point_records(self, deployment: str | None = None, kind: str | None = None,
                      locate: Callable[[str], str] | None = None) -> list[dict[str, Any]]:
        rows, file_rows = self._point_rows(RECORD_COLUMNS, {"deployment": deployment,
                                                            "kind": kind}, None, False)
        return point_records(rows, file_rows, locate)

    def _point_rows(self, columns: str, filters: dict[str, str | None], limit: int | None,
                    deleted: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        where: list[str] = ["deleted_at IS NOT NULL" if deleted else "deleted_at IS NULL"]
        args: list[Any] = []
        for col, val in filters.items():
            if val is not None:
                where.append(f"{col}=?")
                args.append(str(val))
        # The points (newest first, by the read index of 0004), then their files, in one read
        # transaction (one snapshot of both). Two plain queries, not a join: the join's rows
        # (one per file, the point's columns repeated) cost SQLite twice the time of both.
        # Only fixed column names are interpolated; every value is a bound parameter.
        inner = f"SELECT {columns} FROM restore_points WHERE {' AND '.join(where)}"  # noqa: S608  # nosec B608
        inner += " ORDER BY taken_at DESC, id DESC"
        if limit is not None:
            inner, args = inner + " LIMIT ?", [*args, limit]
        files_sql = ("SELECT restore_point_id, name, path, sha256, size FROM files "  # noqa: S608  # nosec B608
                     f"WHERE restore_point_id IN (SELECT id FROM ({inner})) "
                     "ORDER BY restore_point_id, name")  # the key's order: no sort step
        with self._lock:
            try:
                self._db.execute("BEGIN")
                try:
                    rows = self._db.execute(inner, args).fetchall()
                    file_rows = self._db.execute(files_sql, args).fetchall() if rows else []
                finally:
                    self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
        return rows, file_rows

    def restore_point(self, rp_id: str) -> RestorePoint:
        # One row by its key, not every restore point of the catalog read and filtered here.
        for rp in self.restore_points(rp_id=rp_id):
            return rp
        raise CatalogError(f"no restore point {rp_id!r} in the catalog (see `backup-agent list`)")

    def latest(self, deployment: str, kind: str) -> RestorePoint | None:
        rps = self.restore_points(deployment, kind, limit=1)
        return rps[0] if rps else None

    # -- off-site copies -------------------------------------------------------------------
    def add_copy(self, copy: CopyRecord) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO copies VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (copy.restore_point_id, copy.store, copy.name, copy.key, copy.sha256,
                        copy.size, copy.source_sha256, int(copy.encrypted), iso(copy.copied_at),
                        None if copy.verified is None else int(copy.verified),
                        iso(copy.checked_at) if copy.checked_at else None))

    def copies(self, store: str | None = None, rp_id: str | None = None) -> list[CopyRecord]:
        where, args = ["r.deleted_at IS NULL"], []
        for col, val in (("c.store", store), ("c.restore_point_id", rp_id)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        # bandit B608: only fixed column names are interpolated, every value is bound
        rows = self._read("SELECT c.* FROM copies c JOIN restore_points r ON r.id = c.restore_point_id "  # noqa: S608  # nosec B608
                          f"WHERE {' AND '.join(where)} ORDER BY c.restore_point_id, c.store, c.name",
                          args)
        return [CopyRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), parse_iso(r[8]),
                           None if r[9] is None else bool(r[9]), parse_iso(r[10]) if r[10] else None)
                for r in rows]

    def set_copy_verified(self, rp_id: str, store: str, name: str, verified: bool,
                          now: datetime) -> None:
        with self._tx() as db:
            db.execute("UPDATE copies SET verified=?, checked_at=? WHERE restore_point_id=? "
                       "AND store=? AND name=?", (int(verified), iso(now), rp_id, store, name))

    def remove_copies(self, rp_id: str, store: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM copies WHERE restore_point_id=? AND store=?", (rp_id, store))

    def passphrase_salt(self) -> bytes:
        rows = self._read("SELECT value FROM catalog_keys WHERE name='passphrase_salt'")
        return bytes.fromhex(rows[0][0])

    # -- contact ----------------------------------------------------------------------------
    def record_contact(self, deployment: str, now: datetime, error: str | None = None) -> None:
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

    # -- the restore journal ----------------------------------------------------------------
    def start_restore(self, deployment: str, path: dict[str, Any], options: dict[str, Any],
                      now: datetime) -> Restore:
        def insert(db: sqlite3.Connection, rid: str) -> int:
            return db.execute(
                f"INSERT OR IGNORE INTO restores ({RESTORE_COLUMNS}) "  # noqa: S608
                "VALUES (?,?,?,?,?,?,?,NULL,?,?,?)",
                (rid, deployment, int(path["number"]), path["kind"], path["target"],
                 path.get("restore_point"), iso(now), str(RestoreState.RUNNING), json.dumps(path),
                 json.dumps(options))).rowcount

        rid = self._insert_unique(f"restore-{deployment}-{stamp(now)}", insert)
        return Restore(rid, deployment, int(path["number"]), path["kind"], path["target"],
                       path.get("restore_point"), now, RestoreState.RUNNING, path, options)

    def record_step(self, restore_id: str, step: JournalStep) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO restore_steps VALUES (?,?,?,?,?,?,?,?,?)",
                       (restore_id, step.number, step.title, step.action, int(step.automated),
                        str(step.state), iso(step.started_at) if step.started_at else None,
                        iso(step.finished_at) if step.finished_at else None, step.detail))

    def set_restore_state(self, restore_id: str, state: RestoreState,
                          finished_at: datetime | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE restores SET state=?, finished_at=? WHERE id=?",
                       (str(state), iso(finished_at) if finished_at else None, restore_id))

    def restores(self, deployment: str | None = None, limit: int = 20,
                 restore_id: str | None = None, unfinished: bool = False) -> list[Restore]:
        where, args = ["1=1"], []
        for col, val in (("deployment", deployment), ("id", restore_id)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        if unfinished:
            where.append("state != ?")
            args.append(str(RestoreState.COMPLETED))
        # bandit B608: only fixed column names are interpolated, every value is bound
        rows = self._read(f"SELECT {RESTORE_COLUMNS} FROM restores WHERE {' AND '.join(where)} "  # noqa: S608  # nosec B608
                          "ORDER BY started_at DESC, id DESC LIMIT ?", (*args, limit))
        return [self._restore(r) for r in rows]

    def _restore(self, r: tuple[Any, ...]) -> Restore:
        restore = Restore(r[0], r[1], r[2], r[3], r[4], r[5], parse_iso(r[6]), RestoreState(r[8]),
                          json.loads(r[9]), json.loads(r[10]), parse_iso(r[7]) if r[7] else None)
        for number, state, started, finished, detail in self._read(
                "SELECT step, state, started_at, finished_at, detail FROM restore_steps "
                "WHERE restore_id=?", (restore.id,)):
            js = restore.steps[number]
            js.state, js.detail = StepState(state), detail
            js.started_at = parse_iso(started) if started else None
            js.finished_at = parse_iso(finished) if finished else None
        return restore

