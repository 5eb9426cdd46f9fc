"""The shared store contract, run by every store's tests (local, memory, later off-site).

Each ``tests/store/test_<store>.py`` calls :func:`exercise_contract` with an empty store;
``test_registry.py`` fails when a store in ``backup_agent.store`` has no such file.
"""

from __future__ import annotations

import hashlib
import threading

import pytest

from backup_agent.errors import IntegrityError, StoreError
from backup_agent.store import Store, file_key, restore_point_prefix

KEY = file_key("prod", "room-export", "re-1", "rooms.json")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def exercise_contract(store: Store) -> None:
    """Every guarantee of the contract, in one pass over an empty store."""
    for check in (_round_trip, _nothing_visible_before_commit, _restart_starts_over,
                  _mismatch_keeps_nothing, _exception_keeps_nothing, _unhashed_write,
                  _never_overwrites, _list_by_prefix, _delete, _unsafe_keys_refused,
                  _parallel_writes):
        check(store)
        for info in store.list():
            store.delete(info.key)
        assert store.list() == [], f"{check.__name__} left objects behind"


def _round_trip(store: Store) -> None:
    assert store.put_bytes(KEY, b"{}") == (2, sha(b"{}"))
    with store.open(KEY) as fh:
        assert fh.read() == b"{}"
    info = store.stat(KEY)
    assert info is not None and info.key == KEY and info.size == 2
    assert info.sha256 in (None, sha(b"{}")) and info.mtime.tzinfo is not None
    assert store.check(KEY, 2, sha(b"{}")) is None
    assert store.check(KEY, 3, sha(b"{}")) == "size 2 != 3"
    assert store.check(KEY, 2, sha(b"[]")) == "sha256 mismatch"
    assert store.read_bytes(KEY) == b"{}"
    assert KEY in store.location(KEY)


def _nothing_visible_before_commit(store: Store) -> None:
    with store.writer(KEY) as sink:
        sink.write(b"half")
        assert store.stat(KEY) is None and store.list() == []
        with pytest.raises(StoreError):
            store.open(KEY)
        info = sink.commit(expected_size=4)
    assert info.size == 4 and store.stat(KEY) is not None


def _restart_starts_over(store: Store) -> None:
    """A download cut half-way starts again from its first byte: nothing of it stays in front."""
    with store.writer(KEY) as sink:
        sink.write(b"garbage-partial")
        sink.restart()
        sink.write(b"good")
        assert sink.size == 4 and sink.sha256 == sha(b"good")
        sink.commit(expected_size=4, expected_sha256=sha(b"good"))
    assert store.read_bytes(KEY) == b"good"


def _mismatch_keeps_nothing(store: Store) -> None:
    with pytest.raises(IntegrityError, match="does not match"), store.writer(KEY) as sink:
        sink.write(b"abc")
        sink.commit(expected_sha256="0" * 64)
    with pytest.raises(IntegrityError, match="expected 4"), store.writer(KEY) as sink:
        sink.write(b"abc")
        sink.commit(expected_size=4)
    assert store.stat(KEY) is None and store.list() == []


def _exception_keeps_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.writer(KEY) as sink:
        sink.write(b"half")
        raise RuntimeError("connection cut")
    assert store.list() == []


def _unhashed_write(store: Store) -> None:
    """A writer that hashes itself (the backup download) is not hashed twice; its digest is checked."""
    good = sha(b"abc")
    with store.writer("d/a.bin", hashed=False) as sink:
        sink.write(b"abc")
        sink.commit(expected_size=3, expected_sha256=good, sha256=good)
    assert store.check("d/a.bin", 3, good) is None
    with pytest.raises(IntegrityError), store.writer("d/b.bin", hashed=False) as sink:
        sink.write(b"abc")
        sink.commit(expected_sha256=good, sha256="0" * 64)
    with pytest.raises(StoreError, match="needs its writer's sha256"), \
            store.writer("d/c.bin", hashed=False) as sink:
        sink.write(b"abc")
        sink.commit(expected_sha256=good)
    assert [i.key for i in store.list()] == ["d/a.bin"]


def _never_overwrites(store: Store) -> None:
    size, digest = store.put_bytes(KEY, b"first")
    with pytest.raises(StoreError, match="already exists"):
        store.put_bytes(KEY, b"second")
    assert store.check(KEY, size, digest) is None
    assert [i.key for i in store.list()] == [KEY]


def _list_by_prefix(store: Store) -> None:
    keys = [file_key(d, "inventory", f"inv-{d}-{n}", "inventory.json")
            for d in ("prod", "prod2") for n in (1, 2)]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert [i.key for i in store.list()] == sorted(keys)
    assert [i.key for i in store.list("prod/")] == keys[:2]
    assert [i.key for i in store.list("prod")] == sorted(keys)
    assert [i.key for i in store.list(restore_point_prefix("prod", "inventory", "inv-prod-1"))] \
        == keys[:1]
    assert [i.size for i in store.list("prod2/")] == [len(k) for k in keys[2:]]
    assert store.list("nothing/") == [] and store.list("prod/inventory/inv-prod-1/x") == []


def _delete(store: Store) -> None:
    store.put_bytes(KEY, b"1")
    store.delete(KEY)
    store.delete(KEY)  # gone already: no error
    assert store.stat(KEY) is None and store.check(KEY, 1, sha(b"1")) == "missing"


def _unsafe_keys_refused(store: Store) -> None:
    for bad in ("../x", "/etc/passwd", "a/../../b", "a/.hidden", "a\\b", "a//b", "a/\nb"):
        with pytest.raises(StoreError, match="refusing"):
            store.writer(bad)
        with pytest.raises(StoreError, match="refusing"):
            store.stat(bad)
    with pytest.raises(StoreError, match="refusing"):
        file_key("prod", "config-backup", "cb-1", "../../etc/passwd")


def _parallel_writes(store: Store) -> None:
    """Several threads writing files of one restore point at once: each lands whole."""
    errors: list[BaseException] = []

    def put(n: int) -> None:
        try:
            store.put_bytes(file_key("prod", "room-export", "re-1", f"f{n}"), bytes([n]) * 10_000)
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [i.size for i in store.list("prod/room-export/re-1/")] == [10_000] * 8
