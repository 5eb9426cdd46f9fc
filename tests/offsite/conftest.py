"""An agent.toml with a simulator, an S3 copy on moto_server and age keys, for the off-site tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.jobs.conftest import PASSWORD, agent, sim, write_config
from tests.providers.aws_peers import REGION, aws_env, moto_server, reset

__all__ = ["agent", "aws_env", "moto_server", "sim"]
BUCKET = "pexip-backups"


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto_server, reset, with the bucket made; a boto3 client to look at it behind the agent."""
    reset(moto_server)
    monkeypatch.setenv("S3_KEY", "testing")
    monkeypatch.setenv("S3_SECRET", "testing")
    client = boto3.client("s3", region_name=REGION, endpoint_url=moto_server,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION},
                         ObjectLockEnabledForBucket=True)
    client.endpoint = moto_server  # type: ignore[attr-defined]
    yield client


@pytest.fixture
def age_keys(tmp_path: Path) -> tuple[str, Path]:
    """A recipient and the identity file that reads it back."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    path = tmp_path / "age-identity"
    path.write_text(f"# created by the test\n{identity}\n")
    return str(identity.to_public()), path


def offsite_config(tmp_path: Path, url: str, endpoint: str, *, encryption: tuple[str, Path] | None,
                   bucket: str = BUCKET, lock: bool = False, storage: str = "var",
                   extra: str = "") -> Path:
    """write_config's agent.toml plus one S3 copy (and [encryption] when given)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = write_config(tmp_path, url)
    text = cfg.read_text().replace(f'path = "{tmp_path / "var"}"', f'path = "{tmp_path / storage}"')
    text += ("\n[[storage.copies]]\nname = \"offsite-s3\"\ntype = \"s3\"\n"
             f"bucket = {json.dumps(bucket)}\nprefix = \"prod/\"\nregion = \"{REGION}\"\n"
             f"endpoint_url = \"{endpoint}\"\naccess_key_id_env = \"S3_KEY\"\n"
             "secret_access_key_env = \"S3_SECRET\"\n")
    if lock:
        text += 'object_lock = { mode = "governance", days = 30 }\n'
    if encryption:
        text += (f"\n[encryption]\nrecipients = [{json.dumps(encryption[0])}]\n"
                 f"identity_file = {json.dumps(str(encryption[1]))}\n")
    cfg.write_text(text + extra)
    return cfg


def sim_secrets(sim: Any) -> dict[str, set[str]]:
    """Every PIN, alias and node address the simulator holds: none may leave in clear."""
    import requests

    def objects(path: str) -> list[dict[str, Any]]:
        r = requests.get(f"{sim.url}/api/admin/configuration/v1/{path}/?limit=5000",
                         auth=("admin", PASSWORD), timeout=5)
        return list(r.json()["objects"])

    rooms = objects("conference")
    return {"pin": {r[k] for r in rooms for k in ("pin", "guest_pin") if r.get(k)},
            "alias": {a["alias"] for a in objects("conference_alias")},
            "address": {n["address"] for n in objects("worker_vm") if n.get("address")}}
