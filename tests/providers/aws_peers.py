"""Peers for the AWS provider tests: moto in process, and moto_server as a separate process.

moto_server is what the CLI and the daemon talk to through ``endpoint_url``; the in-process
mock is quicker and lets a test reach into the peer's state (e.g. keep snapshots pending, as
real EBS does, which moto otherwise never shows).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.peers.process import serving

REGION = "eu-west-1"
KEYS = {"access_key_id": "testing", "secret_access_key": "testing"}


@dataclass
class Peer:
    """A moto EC2 peer: the provider settings that reach it and a boto3 client to set it up."""

    kind: str
    settings: dict[str, Any] = field(default_factory=dict)

    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str = "ec2") -> Any:
        """A boto3 client for setting up and checking the peer (made once: they are slow to make)."""
        if service not in self.clients:
            self.clients[service] = boto3.client(
                service, region_name=REGION, endpoint_url=self.settings.get("endpoint_url"),
                aws_access_key_id="testing", aws_secret_access_key="testing")
        return self.clients[service]

    def make_instance(self, name: str = "mgr01") -> str:
        """A running instance with a root and a data volume, tagged apart from each other."""
        ec2 = self.client()
        inst = ec2.run_instances(
            ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro",
            BlockDeviceMappings=[
                {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}},
                {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 5, "DeleteOnTermination": False,
                                                    "VolumeType": "gp3"}},
            ],
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "video"}]}],
        )["Instances"][0]
        for device, vol in volumes(ec2, inst["InstanceId"]).items():
            ec2.create_tags(Resources=[vol], Tags=[{"Key": "role", "Value": f"{name}:{device}"}])
        return str(inst["InstanceId"])


def volumes(ec2: Any, instance_id: str) -> dict[str, str]:
    """Device name -> volume id of an instance, as EC2 describes it now."""
    inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS settings of the machine leak in; moto without its ~1,300 built-in AMIs."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """``moto_server`` on a free loopback port for the whole session; its base URL."""
    exe = shutil.which("moto_server")
    if exe is not None:
        cmd = [exe]
    elif importlib.util.find_spec("flask") is not None:  # the console script is off PATH
        cmd = [sys.executable, "-m", "moto.server"]
    else:
        pytest.skip("moto_server not installed (pip install 'moto[server]')")
    port = free_port()
    env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    with serving([*cmd, "-H", "127.0.0.1", "-p", str(port)], port, "moto_server", env=env) as url:
        yield url


def reset(url: str) -> None:
    """Empty moto_server's state between tests."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()


@pytest.fixture
def inproc() -> Iterator[Peer]:
    """moto in this process."""
    from moto import mock_aws

    with mock_aws():
        yield Peer("inproc", {"region": REGION, **KEYS})


@pytest.fixture
def server(moto_server: str) -> Iterator[Peer]:
    """moto_server, reset, reached through ``endpoint_url`` as the CLI would."""
    reset(moto_server)
    yield Peer("server", {"region": REGION, "endpoint_url": moto_server, **KEYS})


@pytest.fixture(params=["inproc", "server"])
def peer(request: pytest.FixtureRequest) -> Peer:
    """Each test using it runs against both peers."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def run_subprocess_python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with the repo on the path."""
    return subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(cwd)},
                          capture_output=True, text=True, timeout=60, check=False)
