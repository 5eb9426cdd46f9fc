"""The Azure Blob store keeps the contract on Azurite; staged blocks stay invisible; bad access."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from backup_agent.errors import IntegrityError, StoreError
from backup_agent.store.azure_blob import AzureBlobStore
from tests.store.azure_peers import ACCOUNT, KEY, azurite, connection_string, new_container
from tests.store.contract import exercise_contract

__all__ = ["azurite"]
MIB = 1024 * 1024
_names = (f"copies-{n}" for n in itertools.count())


def store(url: str, container: str | None = None, part_size: int = 4 * MIB) -> AzureBlobStore:
    if container is None:
        container = next(_names)
        new_container(url, container)
    return AzureBlobStore(container, "prod/", connection_string=connection_string(url),
                          part_size=part_size, name="offsite-azure")


def test_azure_blob_store_keeps_the_contract(azurite: str) -> None:
    exercise_contract(store(azurite))


def test_staged_blocks_are_invisible_until_committed(azurite: str) -> None:
    s = store(azurite)
    data = b"z" * (9 * MIB + 5)
    with s.writer("prod/config-backup/cb-1/b.tar.gz") as sink:
        sink.write(data)
        assert s.list() == [] and s.stat("prod/config-backup/cb-1/b.tar.gz") is None
        sink.commit(expected_size=len(data))
    info = s.stat("prod/config-backup/cb-1/b.tar.gz")
    assert info is not None and info.sha256 == hashlib.sha256(data).hexdigest()
    assert s.location("prod/config-backup/cb-1/b.tar.gz").endswith("/prod/prod/config-backup/cb-1/b.tar.gz")
    with pytest.raises(IntegrityError), s.writer("a/b") as sink:
        sink.write(data)
        sink.commit(expected_sha256="0" * 64)
    with pytest.raises(StoreError, match="already exists"), \
            s.writer("prod/config-backup/cb-1/b.tar.gz") as sink:
        sink.write(b"y" * len(data))
        sink.commit()
    assert [i.key for i in s.list()] == ["prod/config-backup/cb-1/b.tar.gz"]
    assert s.check("prod/config-backup/cb-1/b.tar.gz", len(data), hashlib.sha256(data).hexdigest()) is None


def test_a_wrong_container_is_one_clear_error(azurite: str) -> None:
    s = store(azurite, container="no-such-container")
    with pytest.raises(StoreError, match="container 'no-such-container' does not exist"):
        s.put_bytes("a/b", b"1")
    with pytest.raises(StoreError, match="does not exist"):
        s.list()


def test_a_write_only_sas_writes_but_cannot_read_back(azurite: str) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    owner = store(azurite)
    sas = generate_container_sas(ACCOUNT, owner.container_name, account_key=KEY,
                                 permission=ContainerSasPermissions(write=True, create=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    writer = AzureBlobStore(owner.container_name, "prod/", account_url=f"{azurite}/{ACCOUNT}",
                            credential=sas, name="offsite-azure")
    writer.put_bytes("a/b", b"secret-free bytes")
    assert owner.read_bytes("a/b") == b"secret-free bytes"
    with pytest.raises(StoreError, match="access denied reading a/b"):
        writer.stat("a/b")
    with pytest.raises(StoreError, match="access denied"):
        writer.read_bytes("a/b")
