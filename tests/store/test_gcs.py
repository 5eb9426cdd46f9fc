"""The GCS store keeps the contract on gcp-storage-emulator; a resumable upload stays invisible."""

from __future__ import annotations

import hashlib

import pytest

from backup_agent.errors import IntegrityError, StoreError
from backup_agent.store.gcs import GCSStore
from tests.store.contract import exercise_contract
from tests.store.gcs_peers import gcs_emulator, new_bucket

__all__ = ["gcs_emulator"]
MIB = 1024 * 1024


def store(url: str, bucket: str | None = None) -> GCSStore:
    return GCSStore(bucket or new_bucket(url), "prod/", endpoint_url=url, part_size=MIB,
                    name="offsite-gcs")


def test_gcs_store_keeps_the_contract(gcs_emulator: str) -> None:
    exercise_contract(store(gcs_emulator))


def test_a_resumable_upload_is_invisible_until_committed(gcs_emulator: str) -> None:
    s = store(gcs_emulator)
    data = bytes(range(256)) * (3 * MIB // 256) + b"tail"
    with s.writer("prod/config-backup/cb-1/b.tar.gz") as sink:
        for i in range(0, len(data), 300_000):
            sink.write(data[i:i + 300_000])
        assert s.list() == [] and s.stat("prod/config-backup/cb-1/b.tar.gz") is None
        sink.commit(expected_size=len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    assert s.check("prod/config-backup/cb-1/b.tar.gz", len(data), hashlib.sha256(data).hexdigest()) is None
    assert s.location("prod/config-backup/cb-1/b.tar.gz").startswith("gs://copies-")
    with pytest.raises(StoreError, match="already exists"), \
            s.writer("prod/config-backup/cb-1/b.tar.gz") as sink:
        sink.write(b"y" * len(data))
        sink.commit()
    with pytest.raises(IntegrityError), s.writer("a/b") as sink:
        sink.write(data)
        sink.commit(expected_sha256="0" * 64)
    assert [i.key for i in s.list()] == ["prod/config-backup/cb-1/b.tar.gz"]
    assert s.read_bytes("prod/config-backup/cb-1/b.tar.gz") == data


def test_a_wrong_bucket_is_one_clear_error(gcs_emulator: str) -> None:
    s = store(gcs_emulator, bucket="no-such-bucket")
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
        s.put_bytes("a/b", b"1")
