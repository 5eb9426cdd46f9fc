"""The fault matrix's ``copy`` row: the far side is an off-site S3 store (moto_server), not the
Management Node; the faults land on the copy's requests to it (``/<bucket>/prod/...``).

Each cell has a bucket of its own. What a copy cell checks besides the others: the copies the
catalog records are in the bucket and hash (``verify --store offsite --read-data`` against
moto directly, once the fault is gone), and a completed copy recorded some.
"""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import socket
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

from tests.peers.process import serving

STORE = "offsite"
PREFIX = "prod/"
REGION = "eu-west-1"
#: The copy's requests to the store: the fault lands on them.
PATH = f"/{PREFIX}"
_buckets = itertools.count(1)


@contextmanager
def moto() -> Iterator[str | None]:
    """``moto_server`` on a free loopback port; its URL, or None when it is not installed."""
    exe = shutil.which("moto_server")
    cmd = [exe] if exe else [sys.executable, "-m", "moto.server"]
    if not exe and importlib.util.find_spec("flask") is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            return True
        except OSError:
            return False
    with serving([*cmd, "-H", "127.0.0.1", "-p", str(port)], port, "moto_server", ready=ready):
        yield url


def new_bucket(url: str) -> str:
    """A bucket of the cell's own on moto."""
    name = f"cell-{next(_buckets)}"
    client(url).create_bucket(Bucket=name,
                              CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def client(url: str) -> object:
    return boto3.client("s3", region_name=REGION, endpoint_url=url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def section(where: Path, endpoint: str, bucket: str) -> list[str]:
    """The ``[[storage.copies]]`` lines of agent.toml (keys from files: no environment)."""
    (where / "s3-key").write_text("testing\n")
    return ["[[storage.copies]]", f'name = "{STORE}"', 'type = "s3"', f'bucket = "{bucket}"',
            f'prefix = "{PREFIX}"', f'region = "{REGION}"', f'endpoint_url = "{endpoint}"',
            f'access_key_id_file = "{where / "s3-key"}"',
            f'secret_access_key_file = "{where / "s3-key"}"']
