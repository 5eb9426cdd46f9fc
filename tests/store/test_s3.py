"""The S3 store keeps the contract on moto (in process and moto_server), multipart and locked."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from backup_agent.errors import IntegrityError, ObjectLocked, StoreError
from backup_agent.store.s3 import Lock
from tests.store.contract import exercise_contract
from tests.store.s3_peers import aws_env, make_bucket, moto_server, s3_endpoint, s3_store

__all__ = ["aws_env", "moto_server", "s3_endpoint"]
MIB = 1024 * 1024


def test_s3_store_keeps_the_contract(s3_endpoint: str | None) -> None:
    make_bucket(s3_endpoint)
    exercise_contract(s3_store(s3_endpoint))


def test_a_multipart_upload_is_invisible_until_committed(s3_endpoint: str | None) -> None:
    client = make_bucket(s3_endpoint)
    store = s3_store(s3_endpoint)
    data = bytes(range(256)) * (12 * MIB // 256)  # three parts of 5 MiB, the last short
    with store.writer("prod/config-backup/cb-1/b.tar.gz") as sink:
        for i in range(0, len(data), MIB):
            sink.write(data[i:i + MIB])
        assert store.list() == [] and len(client.list_multipart_uploads(
            Bucket="pexip-backups").get("Uploads", [])) == 1
        sink.commit(expected_size=len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    assert store.check("prod/config-backup/cb-1/b.tar.gz", len(data),
                       hashlib.sha256(data).hexdigest()) is None
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="pexip-backups")["Contents"]]
    assert keys == ["prod/prod/config-backup/cb-1/b.tar.gz"], "written inside the prefix"


def test_a_mismatched_multipart_upload_leaves_nothing(s3_endpoint: str | None) -> None:
    client = make_bucket(s3_endpoint)
    store = s3_store(s3_endpoint)
    with pytest.raises(IntegrityError), store.writer("a/b") as sink:
        sink.write(b"x" * 11 * MIB)
        sink.commit(expected_sha256="0" * 64)
    assert store.list() == []
    assert client.list_multipart_uploads(Bucket="pexip-backups").get("Uploads", []) == []


def test_a_wrong_bucket_is_one_clear_error(s3_endpoint: str | None) -> None:
    make_bucket(s3_endpoint)
    store = s3_store(s3_endpoint, bucket="no-such-bucket")
    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
        store.put_bytes("a/b", b"1")
    with pytest.raises(StoreError, match="does not exist"):
        store.list()


def test_object_lock_is_set_at_upload_and_refuses_delete(s3_endpoint: str | None) -> None:
    make_bucket(s3_endpoint, locked=True)
    store = s3_store(s3_endpoint, lock=Lock("governance", 30))
    before = datetime.now(UTC)
    store.put_bytes("a/small", b"1")
    with store.writer("a/big") as sink:
        sink.write(b"y" * 6 * MIB)
        sink.commit()
    for key in ("a/small", "a/big"):
        head = store.head(key)
        assert head is not None and head["ObjectLockMode"] == "GOVERNANCE"
        until = head["ObjectLockRetainUntilDate"]
        assert before + timedelta(days=29) < until < before + timedelta(days=31)
        with pytest.raises(ObjectLocked, match="kept by its object lock until"):
            store.delete(key)
        assert store.stat(key) is not None, "a locked object stays"
