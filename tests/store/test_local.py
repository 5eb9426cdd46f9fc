"""The local store: atomic, verified, private, and clean after every failure."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from backup_agent.errors import IntegrityError, StoreError
from backup_agent.store import LocalStore


def visible(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_is_private_and_hashed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    size, sha = store.put_bytes("prod/room-export/re-1/rooms.json", b"{}")
    assert (size, sha) == (2, hashlib.sha256(b"{}").hexdigest())
    p = store.path("prod/room-export/re-1/rooms.json")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.parent.stat().st_mode) == 0o700
    assert store.check("prod/room-export/re-1/rooms.json", 2, sha) is None


def test_wrong_sha_or_size_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(IntegrityError, match="does not match"), store.writer("d/x.bin") as fh:
        fh.write(b"abc")
        fh.commit(expected_sha256="0" * 64)
    with pytest.raises(IntegrityError, match="expected 4"), store.writer("d/x.bin") as fh:
        fh.write(b"abc")
        fh.commit(expected_size=4)
    assert visible(tmp_path) == []


def test_exception_mid_write_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(RuntimeError), store.writer("d/x.bin") as fh:
        fh.write(b"half")
        raise RuntimeError("connection cut")
    assert visible(tmp_path) == []


def test_restart_from_zero_resets_hash(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with store.writer("d/x.bin") as fh:
        fh.write(b"garbage-partial")
        fh.seek(0)
        fh.truncate()
        fh.write(b"good")
        fh.commit(expected_size=4, expected_sha256=hashlib.sha256(b"good").hexdigest())
    assert store.path("d/x.bin").read_bytes() == b"good"
    with pytest.raises(StoreError), store.writer("d/y.bin") as fh:
        fh.seek(3)


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "a/.hidden", "a\\b"])
def test_unsafe_paths_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(StoreError, match="refusing"):
        LocalStore(tmp_path).writer(bad)


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


def test_unhashed_write_takes_the_writers_digest(tmp_path: Path) -> None:
    """A writer that hashes itself (the backup download) is not hashed twice; its digest is checked."""
    store = LocalStore(tmp_path)
    good = hashlib.sha256(b"abc").hexdigest()
    with store.writer("d/a.bin", hashed=False) as fh:
        fh.write(b"abc")
        fh.commit(expected_size=3, expected_sha256=good, sha256=good)
    assert store.check("d/a.bin", 3, good) is None
    with pytest.raises(IntegrityError), store.writer("d/b.bin", hashed=False) as fh:
        fh.write(b"abc")
        fh.commit(expected_sha256=good, sha256="0" * 64)
    with pytest.raises(StoreError, match="needs its writer's sha256"), store.writer("d/c.bin", hashed=False) as fh:
        fh.write(b"abc")
        fh.commit(expected_sha256=good)
    assert visible(tmp_path) == ["d/a.bin"]


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
    """Two processes that picked the same restore point id (backup and export refreshing the
    inventory in the same second): the second write fails, the first file stays as it was."""
    store = LocalStore(tmp_path)
    size, sha = store.put_bytes("prod/inventory/inv-1/inventory.json", b"first")
    with pytest.raises(StoreError, match="already exists"):
        store.put_bytes("prod/inventory/inv-1/inventory.json", b"second")
    assert store.check("prod/inventory/inv-1/inventory.json", size, sha) is None
    assert visible(tmp_path) == ["prod/inventory/inv-1/inventory.json"]
    assert [p for p in tmp_path.rglob(".*")] == []
