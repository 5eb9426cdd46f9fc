"""Where artifact bytes live: the :class:`Store` contract, its implementations, the key layout.

``LocalStore`` (a directory) is the default; ``MemoryStore`` is for tests. Off-site stores
(``S3Store``, ``AzureBlobStore``, ``GCSStore``) implement the same contract; each imports its
SDK only when opened (``open_copy_store``). Nothing outside this package turns a key
into a local path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from backup_agent.errors import ConfigError
from backup_agent.store.azure_blob import AzureBlobStore
from backup_agent.store.base import ObjectInfo, Sink, Store, hash_stream
from backup_agent.store.gcs import GCSStore
from backup_agent.store.layout import file_key, restore_point_prefix
from backup_agent.store.local import LocalStore
from backup_agent.store.memory import MemoryStore
from backup_agent.store.s3 import S3Store

if TYPE_CHECKING:
    from backup_agent.offsite_config import CopyConfig


def open_store(root: Path) -> Store:
    """The store configured under ``[storage] path`` (a local directory today)."""
    return LocalStore(root)


def open_copy_store(copy: CopyConfig) -> Store:
    """The off-site store of one ``[[storage.copies]]`` entry; its SDK is imported only now."""
    from backup_agent.store.s3 import Lock

    secrets = {k: s.value() for k, s in copy.secrets.items()}
    if copy.type == "s3":
        lock = Lock(copy.lock_mode, copy.lock_days or 0) if copy.lock_mode else None
        return S3Store(copy.bucket, copy.prefix, region=copy.settings.get("region"),
                       endpoint_url=copy.settings.get("endpoint_url"),
                       access_key_id=secrets.get("access_key_id"),
                       secret_access_key=secrets.get("secret_access_key"), lock=lock,
                       name=copy.name)
    if copy.type == "azure-blob":
        return AzureBlobStore(copy.bucket, copy.prefix,
                              connection_string=secrets.get("connection_string"),
                              account_url=copy.settings.get("account_url"),
                              credential=secrets.get("sas_token"), name=copy.name)
    if copy.type == "gcs":
        return GCSStore(copy.bucket, copy.prefix, project=copy.settings.get("project"),
                        endpoint_url=copy.settings.get("endpoint_url"),
                        credentials_file=copy.settings.get("credentials_file"), name=copy.name)
    raise ConfigError(f"storage.copies.{copy.name}: type {copy.type!r} is not supported")


__all__ = ["AzureBlobStore", "GCSStore", "LocalStore", "MemoryStore", "ObjectInfo", "S3Store",
           "Sink", "Store", "file_key", "hash_stream", "open_copy_store", "open_store",
           "restore_point_prefix"]
