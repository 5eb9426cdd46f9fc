"""gcp-storage-emulator (PyPI) as a separate process on a loopback port, in memory."""

from __future__ import annotations

import itertools
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.process import serving
from tests.providers.aws_peers import free_port

_buckets = (f"copies-{n}" for n in itertools.count())


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("gcp-storage-emulator") or str(Path(sys.executable).parent / "gcp-storage-emulator")
    if not Path(exe).exists():
        pytest.skip("gcp-storage-emulator is not installed (pip install -e '.[test]')")
    port = free_port()
    with serving([exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "--quiet"],
                 port, "gcp-storage-emulator", cwd=tmp_path_factory.mktemp("gcs")) as url:
        yield url


def new_bucket(url: str) -> str:
    name = next(_buckets)
    req = urllib.request.Request(f"{url}/storage/v1/b?project=test", method="POST",
                                 data=f'{{"name": "{name}"}}'.encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).close()
    return name
