"""The faults a fault-matrix cell puts in place itself: on the node's address (a closed port,
the fault-injecting proxy) and on the cell's own storage (a store that cannot be written, stored
files that no longer hash, a locked catalog), and putting the storage back afterwards. Running
the cell is :mod:`tests.reliability.matrix_cell`.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.faultproxy import FaultProxy
from tests.reliability.matrix_table import NODE_FAULTS, Job, stored_corrupt


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def proxy_for(stack: ExitStack, job: Job, fault: str, target: str) -> FaultProxy | None:
    """The fault-injecting proxy in front of the node, for the faults it serves."""
    if fault in NODE_FAULTS:
        kind, count = NODE_FAULTS[fault]
    elif fault in ("SIGTERM", "SIGKILL"):
        kind, count = "hold", 10**6
    elif fault == "wrong sha256" and not stored_corrupt(job, fault):
        kind, count = "corrupt", 10**6
    elif fault in ("none", "TLS untrusted", "TLS wrong host"):
        kind, count = None, 0
    else:
        return None
    tls = fault[len("TLS "):] if fault.startswith("TLS ") else None
    return stack.enter_context(FaultProxy(target, kind, job.path or "/api/", count, tls=tls))


@dataclass
class StoreChanges:
    """What a fault changed in a cell's store, kept to be put back before the checks after the
    run (``verify`` and the orphan search must see the store as it was, not the fault)."""

    moved: tuple[Path, Path] | None = None  # (the file in the store's place, the store aside)
    corrupted: dict[Path, bytes] = field(default_factory=dict)  # file -> its original bytes

    def undo(self) -> None:
        if self.moved is not None:
            self.moved[0].unlink()
            self.moved[1].rename(self.moved[0])
        for f, data in self.corrupted.items():
            if f.exists():
                f.write_bytes(data)


def put_storage_faults(stack: ExitStack, where: Path, job: Job, fault: str) -> StoreChanges:
    """The cell's fault on its own storage, if it is one. A locked catalog is held on ``stack``
    (from now, so its seconds count from just before the run starts); the store's changes are
    returned to be undone."""
    moved = _store_unwritable(where) if fault == "store unwritable" else None
    corrupted = _corrupt_store(where) if stored_corrupt(job, fault) else {}
    if fault == "catalog locked":
        stack.enter_context(_catalog_locked(where, 2.0))
    return StoreChanges(moved, corrupted)


def _store_unwritable(where: Path) -> tuple[Path, Path]:
    """A file where the store's directory must be: no write (or read) under it works, whoever
    the test runs as (root ignores modes; a file inside the store would be swept as an orphan)."""
    d = where / "var" / "store"
    aside = d.with_name("store.aside")
    d.rename(aside)
    d.write_text("not a directory\n")
    return d, aside


def _corrupt_store(where: Path) -> dict[Path, bytes]:
    """Flip bytes in the middle of every stored file (config backups, room exports): each no
    longer hashes to what the catalog recorded. Returns the original bytes to put back."""
    originals = {}
    for f in sorted((where / "var" / "store").rglob("*")):
        if f.is_file() and not f.name.startswith(".") and f.stat().st_size:
            data = f.read_bytes()
            mid = len(data) // 2
            f.write_bytes(data[:mid] + bytes(x ^ 0xFF for x in data[mid:mid + 16]) + data[mid + 16:])
            originals[f] = data
    return originals


@contextmanager
def _catalog_locked(where: Path, seconds: float) -> Iterator[None]:
    """Another process's write transaction on the catalog, held ``seconds`` into the run."""
    db = sqlite3.connect(where / "var" / "catalog.db", isolation_level=None,
                         check_same_thread=False)
    db.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(seconds, db.rollback)
    timer.start()
    try:
        yield
    finally:
        timer.join()
        db.close()
