"""Where artifact bytes live: the :class:`Store` contract, its implementations, the key layout.

``LocalStore`` (a directory) is the default; ``MemoryStore`` is for tests. Off-site stores
(S3, Azure Blob, GCS) implement the same contract. Nothing outside this package turns a key
into a local path.
"""

from __future__ import annotations

from pathlib import Path

from backup_agent.store.base import ObjectInfo, Sink, Store, hash_stream
from backup_agent.store.layout import file_key, restore_point_prefix
from backup_agent.store.local import LocalStore
from backup_agent.store.memory import MemoryStore


def open_store(root: Path) -> Store:
    """The store configured under ``[storage] path`` (a local directory today)."""
    return LocalStore(root)


__all__ = ["LocalStore", "MemoryStore", "ObjectInfo", "Sink", "Store", "file_key",
           "hash_stream", "open_store", "restore_point_prefix"]
