"""The catalog: migrations, runs decided from items, restore points round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_agent.catalog import MIGRATIONS, Catalog, FileRecord, RestorePoint

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_migrations_recorded_once(tmp_path: Path) -> None:
    Catalog(tmp_path / "c.db").close()
    cat = Catalog(tmp_path / "c.db")
    assert cat.migrations() == sorted(name for name, _ in MIGRATIONS)
    assert "0002_restore_journal" in cat.migrations()
    assert (tmp_path / "c.db").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("items", "outcome"), [
    ([("a", "ok"), ("b", "unchanged")], "completed"),
    ([("a", "ok"), ("b", "failed")], "partially_failed"),
    ([("a", "ok"), ("b", "skipped")], "completed"),
    ([("a", "ok"), ("b", "failed"), ("c", "skipped")], "partially_failed"),
    ([("a", "failed"), ("b", "skipped")], "failed"),
    ([("a", "failed")], "failed"),
    ([], "failed"),
])
def test_run_outcome_from_items(tmp_path: Path, items: list[tuple[str, str]], outcome: str) -> None:
    cat = Catalog(tmp_path / "c.db")
    run = cat.start_run("prod", "backup", T0)
    for name, o in items:
        run.item(name, o, "why" if o == "failed" else None)
    cat.finish_run(run, T0 + timedelta(seconds=5))
    [stored] = cat.runs("prod")
    assert stored.outcome == outcome and stored.items == run.items


def test_restore_points_newest_first_with_files(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.db")
    for i in range(3):
        rid = cat.new_id("cb", "prod", T0)
        cat.add_restore_point(RestorePoint(
            id=rid, kind="config-backup", deployment="prod", taken_at=T0 + timedelta(hours=i),
            version="38.1", verified=True, files=[FileRecord("f", f"prod/{rid}/f", "ab" * 32, 9)]))
    rps = cat.restore_points("prod", "config-backup")
    assert [rp.taken_at.hour for rp in rps] == [12, 11, 10]
    assert len({rp.id for rp in rps}) == 3, "ids stay unique within one second"
    d = rps[0].to_dict(lambda key: str(tmp_path / key))
    assert d["taken_at"] == "2026-11-26T12:00:00Z"
    assert d["files"][0]["path"].startswith(str(tmp_path)) and d["files"][0]["size"] == 9
    cat.mark_deleted(rps[0].id, T0)
    assert len(cat.restore_points("prod")) == 2
    assert cat.latest("prod", "config-backup").taken_at.hour == 11  # type: ignore[union-attr]


def test_contact(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.db")
    assert cat.contact("prod")["last_contact"] is None
    cat.record_contact("prod", T0)
    cat.record_contact("prod", T0 + timedelta(hours=1), error="refused")
    c = cat.contact("prod")
    assert c["last_contact"] == "2026-11-26T10:00:00Z" and c["last_error"] == "refused"


def test_a_locked_catalog_is_one_line_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Another process holding a write (an open sqlite3 shell, say) ends a job with one line."""
    import sqlite3

    from backup_agent import catalog as catalog_mod
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
