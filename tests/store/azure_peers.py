"""Azurite (npm, installed by tests/peers/install-azurite.sh under .peers/) on a loopback port."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.process import serving
from tests.providers.aws_peers import free_port

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / ".peers" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published well-known development key (not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_string(url: str) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={url}/{ACCOUNT};")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """azurite-blob on a free loopback port for the session; its base URL."""
    if not AZURITE.exists():
        subprocess.run(["bash", str(ROOT / "tests" / "peers" / "install-azurite.sh")], check=False)
    if not AZURITE.exists() or shutil.which("node") is None:
        pytest.skip("Azurite is not installed (bash tests/peers/install-azurite.sh)")
    port = free_port()
    data = tmp_path_factory.mktemp("azurite")
    with serving([str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                  str(data), "--silent", "--skipApiVersionCheck", "--loose"],
                 port, "azurite", timeout=60) as url:
        yield url


def new_container(url: str, name: str) -> None:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(connection_string(url))
    service.create_container(name)
