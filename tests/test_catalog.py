"""The catalog through its interface: migrations, runs decided from items, restore points,
ids that two processes cannot share, and a catalog.db made by the previous code."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backup_agent.catalog import (
    ITEM_OUTCOMES,
    KINDS,
    MIGRATIONS,
    OUTCOMES,
    RESTORE_STATES,
    STEP_STATES,
    Catalog,
    FileRecord,
    ItemState,
    Kind,
    RestorePoint,
    RunOutcome,
    open_catalog,
)
from backup_agent.errors import CatalogError
from backup_agent.journal import Journal

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
# Every Catalog implementation; the tests taking ``cat`` run against each (a PostgreSQL one
# joins here). Tests that open catalog.db itself are the SQLite implementation's own.
IMPLEMENTATIONS: dict[str, Callable[[Path], Catalog]] = {
    "sqlite": lambda tmp: open_catalog(tmp / "c.db"),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def cat(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    catalog = IMPLEMENTATIONS[request.param](tmp_path)
    yield catalog
    catalog.close()


def test_migrations_recorded_once(tmp_path: Path) -> None:
    open_catalog(tmp_path / "c.db").close()
    cat = open_catalog(tmp_path / "c.db")
    assert cat.migrations() == sorted(name for name, _ in MIGRATIONS)
    assert {"0002_restore_journal", "0003_restore_point_ids"} <= set(cat.migrations())
    assert (tmp_path / "c.db").stat().st_mode & 0o777 == 0o600


def test_closed_sets_keep_their_stored_strings() -> None:
    """The enums are the strings catalogs already hold: an old catalog.db reads the same."""
    assert KINDS == ("config-backup", "room-export", "inventory", "snapshot", "checkpoint")
    assert OUTCOMES == ("completed", "partially_failed", "failed")
    assert ITEM_OUTCOMES == ("ok", "unchanged", "failed", "skipped")
    assert STEP_STATES == ("started", "done", "failed", "skipped")
    assert RESTORE_STATES == ("running", "completed", "failed", "interrupted")
    assert Kind.ROOM_EXPORT == "room-export" and f"{RunOutcome.PARTIALLY_FAILED}" == "partially_failed"
    with pytest.raises(ValueError, match="unknown restore point kind"):
        RestorePoint(id="x", kind="tarball", deployment="prod", taken_at=T0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("items", "outcome"), [
    ([("a", "ok"), ("b", "unchanged")], "completed"),
    ([("a", "ok"), ("b", "failed")], "partially_failed"),
    ([("a", "ok"), ("b", "skipped")], "completed"),
    ([("a", "ok"), ("b", "failed"), ("c", "skipped")], "partially_failed"),
    ([("a", "failed"), ("b", "skipped")], "failed"),
    ([("a", "failed")], "failed"),
    ([], "failed"),
])
def test_run_outcome_from_items(cat: Catalog, items: list[tuple[str, str]], outcome: str) -> None:
    run = cat.start_run("prod", "backup", T0)
    for name, o in items:
        run.item(name, o, "why" if o == "failed" else None)
    cat.finish_run(run, T0 + timedelta(seconds=5))
    [stored] = cat.runs("prod")
    assert stored.outcome == outcome and stored.outcome is RunOutcome(outcome)
    assert stored.items == run.items
    assert all(isinstance(o, ItemState) for o, _ in stored.items.values())
    with pytest.raises(ValueError, match="unknown item outcome"):
        run.item("x", "exploded")


def test_two_runs_started_in_the_same_instant_get_distinct_ids(cat: Catalog) -> None:
    first, second = cat.start_run("prod", "export", T0), cat.start_run("prod", "export", T0)
    assert first.id != second.id
    assert {r.id for r in cat.runs("prod")} == {first.id, second.id}


def test_restore_points_newest_first_with_files(cat: Catalog) -> None:
    for i in range(3):
        rid = cat.new_id("cb", "prod", T0)
        cat.add_restore_point(RestorePoint(
            id=rid, kind=Kind.CONFIG_BACKUP, deployment="prod", taken_at=T0 + timedelta(hours=i),
            version="38.1", verified=True, files=[FileRecord("f", f"prod/{rid}/f", "ab" * 32, 9)]))
    rps = cat.restore_points("prod", "config-backup")
    assert [rp.taken_at.hour for rp in rps] == [12, 11, 10]
    assert len({rp.id for rp in rps}) == 3, "ids stay unique within one second"
    d = rps[0].to_dict(lambda key: f"/somewhere/{key}")
    assert d["taken_at"] == "2026-11-26T12:00:00Z" and d["kind"] == "config-backup"
    assert d["files"][0]["key"] == rps[0].files[0].key
    assert d["files"][0]["path"] == f"/somewhere/{rps[0].files[0].key}" and d["files"][0]["size"] == 9
    cat.mark_deleted(rps[0].id, T0)
    assert len(cat.restore_points("prod")) == 2
    assert cat.latest("prod", "config-backup").taken_at.hour == 11  # type: ignore[union-attr]
    # Hidden ones are read only when asked for (retention sweeps a removal a crash cut short).
    [gone] = cat.restore_points("prod", deleted=True)
    assert gone.id == rps[0].id and gone.files == rps[0].files


def test_runs_of_one_job(cat: Catalog) -> None:
    for i, job in enumerate(["backup", "watch", "watch", "backup", "watch"]):
        cat.finish_run(cat.start_run("prod", job, T0 + timedelta(minutes=i)), T0 + timedelta(minutes=i))
    assert [r.job for r in cat.runs("prod", job="backup")] == ["backup", "backup"]
    [last] = cat.runs("prod", limit=1, job="backup")
    assert last.started_at == T0 + timedelta(minutes=3)
    assert cat.runs("lab", job="backup") == [] and len(cat.runs(job="watch")) == 3


def test_restore_point_changes_and_lookups(cat: Catalog) -> None:
    rid = cat.new_id("snap-mgr01", "prod", T0)
    cat.add_restore_point(RestorePoint(id=rid, kind=Kind.SNAPSHOT, deployment="prod", taken_at=T0,
                                       node="mgr01", provider="sim", data={"provider_id": "s-1"}))
    cat.update_data(rid, confirmed_at="2026-11-27T10:00:00Z")
    cat.set_verified(rid, True)
    rp = cat.restore_point(rid)
    assert rp.verified and rp.data == {"provider_id": "s-1", "confirmed_at": "2026-11-27T10:00:00Z"}
    assert [p.id for p in cat.restore_points(kind=Kind.SNAPSHOT, node="mgr01")] == [rid]
    assert cat.restore_points(node="cn01") == [] and cat.latest("prod", "inventory") is None
    with pytest.raises(CatalogError, match="no restore point 'nope'"):
        cat.restore_point("nope")
    with pytest.raises(CatalogError, match="no restore point"):
        cat.update_data("nope", x=1)


def test_contact(cat: Catalog) -> None:
    assert cat.contact("prod")["last_contact"] is None
    cat.record_contact("prod", T0)
    cat.record_contact("prod", T0 + timedelta(hours=1), error="refused")
    c = cat.contact("prod")
    assert c["last_contact"] == "2026-11-26T10:00:00Z" and c["last_error"] == "refused"


# -- ids allocated atomically ----------------------------------------------------------------
PER_WRITER = 25


def make_points(cat: Catalog, writer: str) -> list[str]:
    """What a job does: reserve an id, write (nothing here), record the restore point."""
    made = []
    for n in range(PER_WRITER):
        rid = cat.new_id("inv", "prod", T0)
        cat.add_restore_point(RestorePoint(
            id=rid, kind=Kind.INVENTORY, deployment="prod", taken_at=T0, run_id=f"{writer}-{n}",
            files=[FileRecord("inventory.json", f"prod/inventory/{rid}/inventory.json", "ab" * 32, 2)]))
        made.append(rid)
    return made


def _process_writer(db: str, writer: str, go: Any, out: Any) -> None:
    cat = open_catalog(Path(db))
    go.wait(60)  # both processes start their writes together, once both are up
    try:
        out.put((writer, make_points(cat, writer), None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        out.put((writer, [], f"{type(exc).__name__}: {exc}"))
    finally:
        cat.close()


def test_two_processes_creating_restore_points_in_the_same_second(tmp_path: Path) -> None:
    """Check-then-insert handed both processes the same id and one insert failed: a restore
    point lost. The id is now reserved by a unique key in the insert."""
    db = tmp_path / "c.db"
    open_catalog(db).close()
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(str(db), w, go, out)) for w in ("a", "b")]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert [err for _, _, err in results] == [None, None]
    ids = [rid for _, made, _ in results for rid in made]
    assert len(ids) == len(set(ids)) == 2 * PER_WRITER
    cat = open_catalog(db)
    stored = cat.restore_points("prod", "inventory")
    assert sorted(rp.id for rp in stored) == sorted(ids), "every restore point was recorded"
    assert {rp.run_id for rp in stored} == {f"{w}-{n}" for w in "ab" for n in range(PER_WRITER)}


def test_threads_sharing_a_catalog_get_distinct_ids(cat: Catalog) -> None:
    made: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            made[name] = make_points(cat, name)
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [rid for m in made.values() for rid in m]
    assert len(set(ids)) == 4 * PER_WRITER == len(cat.restore_points("prod"))
    assert "inv-prod-20261126T100000Z" in ids and "inv-prod-20261126T100000Z-2" in ids


# -- a catalog.db made by the previous code ------------------------------------------------
# The schema and rows exactly as the agent before the catalog package wrote them: these
# literals are frozen on purpose (MIGRATIONS may grow; what old catalogs hold does not).
OLD_SCHEMA = [
    "CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT)",
    "CREATE TABLE runs (id TEXT PRIMARY KEY, deployment TEXT NOT NULL, job TEXT NOT NULL, "
    "started_at TEXT NOT NULL, finished_at TEXT, outcome TEXT, summary TEXT NOT NULL DEFAULT '{}')",
    "CREATE TABLE run_items (run_id TEXT NOT NULL REFERENCES runs(id), item TEXT NOT NULL, "
    "outcome TEXT NOT NULL, reason TEXT, PRIMARY KEY (run_id, item))",
    "CREATE TABLE restore_points (id TEXT PRIMARY KEY, kind TEXT NOT NULL, deployment TEXT NOT "
    "NULL, taken_at TEXT NOT NULL, version TEXT, build TEXT, node TEXT, provider TEXT, verified "
    "INTEGER NOT NULL DEFAULT 0, run_id TEXT, data TEXT NOT NULL DEFAULT '{}', deleted_at TEXT)",
    "CREATE INDEX restore_points_by_kind ON restore_points (deployment, kind, taken_at)",
    "CREATE TABLE files (restore_point_id TEXT NOT NULL REFERENCES restore_points(id), name TEXT "
    "NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, "
    "PRIMARY KEY (restore_point_id, name))",
    "CREATE TABLE contacts (deployment TEXT PRIMARY KEY, last_contact TEXT, last_error TEXT, "
    "last_error_at TEXT)",
    "CREATE TABLE restores (id TEXT PRIMARY KEY, deployment TEXT NOT NULL, path_number INTEGER "
    "NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, restore_point TEXT, started_at TEXT NOT "
    "NULL, finished_at TEXT, state TEXT NOT NULL, path TEXT NOT NULL, options TEXT NOT NULL "
    "DEFAULT '{}')",
    "CREATE TABLE restore_steps (restore_id TEXT NOT NULL REFERENCES restores(id), step INTEGER "
    "NOT NULL, title TEXT NOT NULL, action TEXT NOT NULL, automated INTEGER NOT NULL, state TEXT "
    "NOT NULL, started_at TEXT, finished_at TEXT, detail TEXT, PRIMARY KEY (restore_id, step))",
    "CREATE INDEX restores_by_deployment ON restores (deployment, started_at)",
]
OLD_PATH = ('{"number": 1, "kind": "restore-backup", "target": "mgr01", "restore_point": '
            '"cb-prod-20261126T100000Z", "steps": [{"title": "Check", "automated": true, '
            '"action": "check"}, {"title": "Restore", "automated": true, "action": "restore-backup"}]}')
OLD_ROWS = [
    ("INSERT INTO migrations VALUES (?, ?)", ("0001_initial", "2026-11-01T00:00:00Z")),
    ("INSERT INTO migrations VALUES (?, ?)", ("0002_restore_journal", "2026-11-01T00:00:00Z")),
    ("INSERT INTO runs VALUES (?,?,?,?,?,?,?)",
     ("run-backup-prod-20261126T100000000000Z", "prod", "backup", "2026-11-26T10:00:00Z",
      "2026-11-26T10:01:00Z", "partially_failed", '{"config_backup": {"id": "cb-prod-20261126T100000Z"}}')),
    ("INSERT INTO run_items VALUES (?,?,?,?)",
     ("run-backup-prod-20261126T100000000000Z", "inventory", "failed", "locked")),
    ("INSERT INTO run_items VALUES (?,?,?,?)",
     ("run-backup-prod-20261126T100000000000Z", "config-backup", "ok", None)),
    ("INSERT INTO restore_points VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
     ("cb-prod-20261126T100000Z", "config-backup", "prod", "2026-11-26T10:00:00Z", "38.1", "77",
      None, None, 1, "run-backup-prod-20261126T100000000000Z", '{"filename": "b.tar"}', None)),
    ("INSERT INTO files VALUES (?,?,?,?,?)",
     ("cb-prod-20261126T100000Z", "b.tar", "prod/config-backup/cb-prod-20261126T100000Z/b.tar",
      "ab" * 32, 1234)),
    ("INSERT INTO contacts VALUES (?,?,?,?)", ("prod", "2026-11-26T10:00:00Z", None, None)),
    ("INSERT INTO restores VALUES (?,?,?,?,?,?,?,?,?,?,?)",
     ("restore-prod-20261126T110000Z", "prod", 1, "restore-backup", "mgr01",
      "cb-prod-20261126T100000Z", "2026-11-26T11:00:00Z", None, "interrupted", OLD_PATH, "{}")),
    ("INSERT INTO restore_steps VALUES (?,?,?,?,?,?,?,?,?)",
     ("restore-prod-20261126T110000Z", 1, "Check", "check", 1, "done", "2026-11-26T11:00:00Z",
      "2026-11-26T11:00:05Z", "3 prerequisite(s) met")),
]


def test_a_catalog_made_by_the_previous_code_opens_and_reads(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "catalog.db")
    for stmt in OLD_SCHEMA:
        db.execute(stmt)
    for sql, args in OLD_ROWS:
        db.execute(sql, args)
    db.commit()
    db.close()
    cat = open_catalog(tmp_path / "catalog.db")
    assert cat.migrations() == ["0001_initial", "0002_restore_journal", "0003_restore_point_ids",
                                "0004_offsite_copies", "0005_restore_point_read_indexes",
                                "0006_run_read_indexes", "0007_backup_passphrase_ref", "0008_run_actor"]
    rp = cat.restore_point("cb-prod-20261126T100000Z")
    assert (rp.kind, rp.version, rp.verified, rp.data) == (Kind.CONFIG_BACKUP, "38.1", True,
                                                           {"filename": "b.tar"})
    assert rp.files == [FileRecord("b.tar", "prod/config-backup/cb-prod-20261126T100000Z/b.tar",
                                   "ab" * 32, 1234)]
    [run] = cat.runs("prod")
    assert run.outcome is RunOutcome.PARTIALLY_FAILED and run.failures() == [("inventory", "locked")]
    assert run.actor is None  # started before runs recorded who started them
    assert cat.contact("prod")["last_contact"] == "2026-11-26T10:00:00Z"
    restore = Journal(cat).get("restore-prod-20261126T110000Z")
    assert restore.state == "interrupted" and restore.first_open_step() == 2
    assert restore.steps[1].detail == "3 prerequisite(s) met"
    # An id the old code handed out is never handed out again.
    assert cat.new_id("cb", "prod", T0) == "cb-prod-20261126T100000Z-2"
    cat.close()


# -- the SQLite implementation under another process's lock ---------------------------------
def test_a_locked_catalog_is_one_line_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Another process holding a write (an open sqlite3 shell, say) ends a job with one line."""
    from backup_agent.catalog import sqlite as catalog_mod
    from backup_agent.cli.main import main
    from tests.jobs.conftest import write_config

    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    assert main(["--config", str(cfg), "list"]) == 0
    monkeypatch.setattr(catalog_mod, "BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(tmp_path / "var" / "catalog.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        capsys.readouterr()
        code = main(["--config", str(cfg), "export"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert code == 1
    assert "internal error" not in err and "Traceback" not in err
    assert "database is locked; another process holds it" in err


def test_storage_path_that_is_a_file_is_a_config_error(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from backup_agent.cli.main import main
    from tests.jobs.conftest import write_config

    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    (tmp_path / "var").write_text("not a directory")
    capsys.readouterr()
    assert main(["--config", str(cfg), "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a directory" in err and "storage.path" in err


def test_restore_points_are_read_newest_first_by_an_index(tmp_path: Path) -> None:
    """list, status and the evidence read the newest first: by 0004's index, not a sort."""
    db = sqlite3.connect(tmp_path / "catalog.db")
    open_catalog(tmp_path / "catalog.db").close()
    for where in ("deleted_at IS NULL", "deleted_at IS NULL AND deployment='prod'"):
        plan = " ".join(str(r[-1]) for r in db.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM restore_points WHERE {where} "  # noqa: S608
            "ORDER BY taken_at DESC, id DESC"))
        assert "restore_points_newest" in plan and "TEMP B-TREE" not in plan, plan
    db.close()


def test_runs_record_who_started_them_and_a_reserved_row_is_taken_over_once(tmp_path: Path) -> None:
    import contextvars

    from backup_agent.catalog.actor import reserved_left, started_by

    cat = open_catalog(tmp_path / "catalog.db")
    # Nobody said (a fresh context: the CLI's main, run in this process before, says "cli"):
    # recorded as unknown.
    assert contextvars.Context().run(cat.start_run, "prod", "watch", T0).actor is None
    with started_by("token:ops-team"):
        reserved = cat.start_run("prod", "backup", T0)
    with started_by("token:ops-team", (reserved.id, "prod", "backup")):
        other = cat.start_run("prod", "export", T0 + timedelta(seconds=1))  # another job: its own row
        assert reserved_left() == reserved.id
        taken = cat.start_run("prod", "backup", T0 + timedelta(seconds=2))
        again = cat.start_run("prod", "backup", T0 + timedelta(seconds=3))  # taken once only
        assert reserved_left() is None
    assert taken.id == reserved.id and other.id != reserved.id and again.id != reserved.id
    [row] = cat.runs(run_id=reserved.id)
    assert row.actor == "token:ops-team" and row.started_at == T0 + timedelta(seconds=2)
    assert {r.actor for r in cat.runs("prod")} == {None, "token:ops-team"}
    cat.close()


def test_each_catalog_has_its_own_random_passphrase_salt(tmp_path: Path) -> None:
    one, two = open_catalog(tmp_path / "a.db"), open_catalog(tmp_path / "b.db")
    assert len(one.passphrase_salt()) == 32 and one.passphrase_salt() != two.passphrase_salt()
    salt = one.passphrase_salt()
    one.close()
    assert open_catalog(tmp_path / "a.db").passphrase_salt() == salt, "made once, kept"


def test_points_keep_their_files_sorted_by_name_through_limits_and_filters(cat: Catalog) -> None:
    """The points and their files are read by two queries in one snapshot: every point gets
    exactly its own files, by name, a point without files none, whatever the filter or limit."""
    names = ["vmrs.csv", "rooms.json", "auditoriums.csv"]
    for i in range(4):
        rid = cat.new_id("re", "prod", T0 + timedelta(hours=i))
        files = [FileRecord(n, f"prod/{rid}/{n}", "ab" * 32, i) for n in names] if i % 2 else []
        cat.add_restore_point(RestorePoint(id=rid, kind=Kind.ROOM_EXPORT, deployment="prod",
                                           taken_at=T0 + timedelta(hours=i), files=files,
                                           data={"i": i}))
    rps = cat.restore_points()
    assert [rp.data["i"] for rp in rps] == [3, 2, 1, 0]
    assert [[f.name for f in rp.files] for rp in rps] == [sorted(names), [], sorted(names), []]
    assert all(f.key.startswith(f"prod/{rp.id}/") for rp in rps for f in rp.files)
    [newest] = cat.restore_points("prod", "room-export", limit=1)
    assert newest.files == rps[0].files and newest.data == {"i": 3}
    assert cat.restore_points("prod", "config-backup") == []
    assert cat.restore_point(rps[2].id).files == rps[2].files


def test_runs_are_read_newest_first_by_an_index(tmp_path: Path) -> None:
    """status reads a deployment's last 100 runs and the daemon a job's last: by 0006's
    indexes, not a sort of a year of watch runs."""
    open_catalog(tmp_path / "catalog.db").close()
    db = sqlite3.connect(tmp_path / "catalog.db")
    for where in ("deployment='prod'", "deployment='prod' AND job='watch'"):
        plan = " ".join(str(r[-1]) for r in db.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM runs WHERE {where} "  # noqa: S608
            "ORDER BY started_at DESC LIMIT 5"))
        assert "runs_newest_by" in plan and "TEMP B-TREE" not in plan, plan
    # The newest point of a kind (status asks for each kind) without scanning the others.
    plan = " ".join(str(r[-1]) for r in db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM restore_points WHERE deleted_at IS NULL AND "
        "deployment='prod' AND kind='checkpoint' ORDER BY taken_at DESC, id DESC LIMIT 1"))
    assert "restore_points_newest_by_kind" in plan and "TEMP B-TREE" not in plan, plan
    db.close()
