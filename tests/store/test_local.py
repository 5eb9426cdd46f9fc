"""The local store: the contract, and what only a directory has: modes, fsync'd renames, ENOSPC."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from backup_agent.errors import StoreError
from backup_agent.store import LocalStore
from tests.store.contract import exercise_contract


def visible(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_local_store_keeps_the_contract(tmp_path: Path) -> None:
    exercise_contract(LocalStore(tmp_path / "s"))
    assert [p for p in (tmp_path / "s").rglob("*") if p.is_file()] == [], "temporary files left"


def test_put_is_private_and_hashed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    size, sha = store.put_bytes("prod/room-export/re-1/rooms.json", b"{}")
    assert (size, sha) == (2, hashlib.sha256(b"{}").hexdigest())
    p = tmp_path / "s" / "prod" / "room-export" / "re-1" / "rooms.json"
    assert store.location("prod/room-export/re-1/rooms.json") == str(p.resolve())
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.parent.stat().st_mode) == 0o700


def test_failed_writes_leave_no_temporary_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(RuntimeError), store.writer("d/x.bin") as fh:
        fh.write(b"half")
        assert next(p.name for p in (tmp_path / "d").iterdir()).startswith(".x.bin.tmp-")
        raise RuntimeError("connection cut")
    assert list(tmp_path.rglob("*.tmp-*")) == []


def test_a_hidden_temporary_file_is_not_listed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with store.writer("d/x.bin") as fh:
        fh.write(b"half")
        assert store.list() == [] and store.stat("d/x.bin") is None
        fh.abort()


def test_disk_full_is_one_clear_error(small_fs: Path) -> None:
    """A real ENOSPC on a 1 MiB tmpfs: one StoreError, and no file left behind."""
    store = LocalStore(small_fs)
    with pytest.raises(StoreError, match="disk full"), store.writer("d/x.bin") as fh:
        for _ in range(512):
            fh.write(b"x" * 4096)
        fh.commit()
    assert visible(small_fs) == []


def test_delete_removes_empty_dirs(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("prod/kind/id/a", b"1")
    store.delete("prod/kind/id/a")
    assert not (tmp_path / "prod").exists()
    assert store.check("prod/kind/id/a", 1, "x") == "missing"


def test_a_directory_is_not_an_object(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("prod/kind/id/a", b"1")
    assert store.stat("prod/kind") is None and store.stat("prod/kind/id/a/b") is None
    assert store.check("prod/kind", 1, "x") == "missing"


def test_every_directory_it_makes_is_0700(tmp_path: Path) -> None:
    """Not only the leaf: mkdir(parents=True) makes the parents with the umask's mode."""
    old = os.umask(0o022)
    try:
        store = LocalStore(tmp_path / "storage" / "store")
        store.put_bytes("prod/room-export/re-1/rooms.json", b"{}")
    finally:
        os.umask(old)
    made = [tmp_path / "storage", tmp_path / "storage" / "store", *(
        p for p in (tmp_path / "storage" / "store").rglob("*") if p.is_dir())]
    assert len(made) == 5
    assert {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in made} == {
        str(p.relative_to(tmp_path)): 0o700 for p in made}


def test_a_visible_file_is_never_overwritten(tmp_path: Path) -> None:
    """The second commit onto a visible key fails; the first file stays as it was, nothing stray."""
    store = LocalStore(tmp_path)
    size, sha = store.put_bytes("prod/inventory/inv-1/inventory.json", b"first")
    with pytest.raises(StoreError, match="already exists"):
        store.put_bytes("prod/inventory/inv-1/inventory.json", b"second")
    assert store.check("prod/inventory/inv-1/inventory.json", size, sha) is None
    assert visible(tmp_path) == ["prod/inventory/inv-1/inventory.json"]
    assert [p for p in tmp_path.rglob(".*")] == []
