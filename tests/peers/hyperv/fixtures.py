"""pytest fixtures for the Hyper-V tests: sshd + fake powershell, and the paramiko server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from providers.hyperv import HyperVProvider, fingerprint
from tests.peers.hyperv import peer

MGR = "11111111-0000-4000-8000-000000000001"
CONF = "11111111-0000-4000-8000-000000000002"
OLD = "11111111-0000-4000-8000-000000000003"


def default_vms() -> list[dict[str, Any]]:
    """VMs of the fake host: a modern one, one whose guest cannot do production checkpoints."""
    return [
        {"Name": "pexip-mgr01", "Id": MGR, "CheckpointType": "Production", "State": "Running"},
        {"Name": "pexip-conf01", "Id": CONF, "CheckpointType": "Standard", "State": "Running"},
        {"Name": "legacy01", "Id": OLD, "CheckpointType": "Standard", "State": "Off",
         "production_capable": False},
    ]


@pytest.fixture(scope="session")
def sshd_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[peer.Peer]:
    """Debian's sshd on a loopback port running the fake powershell, for the whole session."""
    if not os.access(peer.SSHD, os.X_OK):
        pytest.skip(f"{peer.SSHD} is not installed (tests/peers/install-sshd.sh installs it)")
    with peer.sshd(tmp_path_factory.mktemp("hyperv-sshd")) as p:
        yield p


@pytest.fixture()
def host(sshd_peer: peer.Peer) -> peer.Peer:
    """The sshd peer with the fake host reset to :func:`default_vms`."""
    peer.write_state(sshd_peer.state, default_vms())
    return sshd_peer


class Factory:
    """Builds providers against one peer (closing them at the end), with overridable settings."""

    def __init__(self, p: peer.Peer, base: dict[str, Any]) -> None:
        self.peer, self.base = p, base
        self.made: list[HyperVProvider] = []

    def __call__(self, **overrides: Any) -> HyperVProvider:
        settings = {"host": self.peer.host, "port": self.peer.port, "username": self.peer.user,
                    "host_key_fingerprint": fingerprint(self.peer.host_key), "timeout": 20,
                    "connect_timeout": 5, **self.base, **overrides}
        prov = HyperVProvider({k: v for k, v in settings.items() if v is not None})
        self.made.append(prov)
        return prov

    def close(self) -> None:
        for prov in self.made:
            prov.close()


@pytest.fixture()
def make_provider(host: peer.Peer) -> Iterator[Callable[..., HyperVProvider]]:
    """Providers against sshd: key auth and a pinned host key unless overridden."""
    factory = Factory(host, {"key": host.client_key})
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def paramiko_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[peer.Peer]:
    """paramiko's in-process SSH server (password auth) running the fake in process."""
    with peer.paramiko_server(tmp_path_factory.mktemp("hyperv-paramiko")) as p:
        yield p


@pytest.fixture()
def fast_host(paramiko_peer: peer.Peer) -> peer.Peer:
    """The paramiko peer with the fake host reset to :func:`default_vms`."""
    peer.write_state(paramiko_peer.state, default_vms())
    return paramiko_peer


@pytest.fixture()
def make_fast(fast_host: peer.Peer) -> Iterator[Callable[..., HyperVProvider]]:
    """Providers against the paramiko peer: password auth and a pinned host key."""
    factory = Factory(fast_host, {"password": peer.PASSWORD})
    yield factory
    factory.close()


def known_hosts_line(p: peer.Peer, key: Any = None) -> str:
    """A known_hosts line for the peer's address (OpenSSH's ``[host]:port`` form)."""
    key = key or p.host_key
    return f"[{p.host}]:{p.port} {key.get_name()} {key.get_base64()}\n"


def write_known_hosts(tmp: Path, text: str) -> str:
    path = tmp / "known_hosts"
    path.write_text(text)
    return str(path)
