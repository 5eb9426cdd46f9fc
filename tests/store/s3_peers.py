"""S3 peers for the store tests: moto in process and moto_server, buckets with Object Lock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from backup_agent.store.s3 import Lock, S3Store
from tests.providers.aws_peers import REGION, aws_env, moto_server, reset

__all__ = ["REGION", "aws_env", "make_bucket", "moto_server", "s3_endpoint", "s3_store"]
KEYS = {"access_key_id": "testing", "secret_access_key": "testing"}


def make_bucket(endpoint: str | None, name: str = "pexip-backups", locked: bool = False) -> Any:
    client = boto3.client("s3", region_name=REGION, endpoint_url=endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION},
                         ObjectLockEnabledForBucket=locked)
    return client


@pytest.fixture(params=["inproc", "server"])
def s3_endpoint(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for moto in this process, else moto_server's URL (reset): each test runs on both."""
    if request.param == "inproc":
        from moto import mock_aws

        with mock_aws():
            yield None
    else:
        url: str = request.getfixturevalue("moto_server")
        reset(url)
        yield url


def s3_store(endpoint: str | None, bucket: str = "pexip-backups", prefix: str = "prod/",
             lock: Lock | None = None, part_size: int = 5 * 1024 * 1024) -> S3Store:
    return S3Store(bucket, prefix, region=REGION, endpoint_url=endpoint, lock=lock,
                   part_size=part_size, name="offsite-s3", **KEYS)
