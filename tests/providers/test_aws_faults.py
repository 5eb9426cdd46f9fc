"""AWSProvider's bad inputs and faults: credentials, roles, profiles, endpoints, slow or failed tasks."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from moto.core import set_initial_no_auth_action_count
from moto.ec2.models import amis, elastic_block_store

from providers._aws_ops import SET_TAG
from providers.aws import AWSProvider
from providers.base import (
    MANAGED_TAG,
    AuthFailed,
    NotFound,
    ProviderConfigError,
    ProviderTimeout,
    SnapshotState,
    TaskFailed,
    Unreachable,
)
from tests.providers import aws_peers
from tests.providers.aws_peers import KEYS, REGION, Peer, free_port, run_subprocess_python

TAGS = {MANAGED_TAG: "true"}
REPO = Path(__file__).resolve().parents[2]
BAD_SECRET = "wJalrXUtnFEMI-not-a-real-secret"  # must never appear in a message
pytestmark = pytest.mark.peer("moto")
# the peers' fixtures, bound here so pytest finds them
aws_env, moto_server = aws_peers.aws_env, aws_peers.moto_server
inproc, server = aws_peers.inproc, aws_peers.server


def closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"


@set_initial_no_auth_action_count(0)
def test_wrong_keys_are_auth_failed(inproc: Peer) -> None:
    p = AWSProvider({"region": REGION, "access_key_id": "AKIAWRONGWRONGWRONG", "secret_access_key": BAD_SECRET})
    with pytest.raises(AuthFailed, match="AuthFailure") as err:
        p.create("i-0123456789abcdef0", "x", "", TAGS)
    assert BAD_SECRET not in str(err.value)


@set_initial_no_auth_action_count(0)
def test_wrong_keys_for_the_role_are_auth_failed(inproc: Peer) -> None:
    p = AWSProvider({"region": REGION, "access_key_id": "AKIAWRONGWRONGWRONG", "secret_access_key": BAD_SECRET,
                     "role_arn": "arn:aws:iam::123456789012:role/backup"})
    with pytest.raises(AuthFailed, match="assume role: InvalidClientTokenId") as err:
        p.list()
    assert BAD_SECRET not in str(err.value)


def test_no_credentials_is_auth_failed() -> None:
    p = AWSProvider({"region": REGION, "endpoint_url": closed_endpoint()})
    with pytest.raises(AuthFailed, match="no usable credentials"):
        p.list()


def test_unreachable_endpoint() -> None:
    p = AWSProvider({"region": REGION, "endpoint_url": closed_endpoint(), **KEYS})
    started = time.monotonic()
    with pytest.raises(Unreachable, match="endpoint unreachable"):
        p.create("i-0123456789abcdef0", "x", "", TAGS)
    assert time.monotonic() - started < 30


def test_role_arn_is_assumed(server: Peer) -> None:
    vm = server.make_instance()
    same = AWSProvider({**server.settings, "role_arn": "arn:aws:iam::123456789012:role/backup"})
    assert same.create(vm, "via-role", "", TAGS).vm == vm
    # moto keeps each account apart: a role in another account cannot see the instance
    other = AWSProvider({**server.settings, "role_arn": "arn:aws:iam::111111111111:role/backup"})
    assert other.vm_exists(vm) is False and other.list(vm) == []
    with pytest.raises(NotFound, match=vm):
        other.create(vm, "via-role", "", TAGS)


def test_profile(server: Peer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text(f"[profile backup]\nregion = {REGION}\n"
                      "aws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    vm = server.make_instance()
    p = AWSProvider({"profile": "backup", "endpoint_url": server.settings["endpoint_url"]})
    assert p.create(vm, "via-profile", "", TAGS).vm == vm
    with pytest.raises(ProviderConfigError, match="other"):
        AWSProvider({"profile": "other", "endpoint_url": server.settings["endpoint_url"]}).list()


def test_sdk_default_chain_in_a_separate_process(server: Peer) -> None:
    """As the CLI runs: no keys in the settings, the endpoint and keys from the environment."""
    vm = server.make_instance()
    env = {**os.environ, "AWS_ENDPOINT_URL": server.settings["endpoint_url"], "AWS_DEFAULT_REGION": REGION,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    code = ("import json, sys\nfrom providers.aws import AWSProvider\n"
            "p = AWSProvider({})\n"
            f"ref = p.create({vm!r}, 'from-cli', '', {{'backup-agent': 'true'}})\n"
            "print(json.dumps(ref.to_dict()))\n")
    done = run_subprocess_python(code, env, REPO)
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    assert made["vm"] == vm and made["state"] == "available"
    assert [r.id for r in AWSProvider(server.settings).list(vm)] == [made["id"]]


def _stuck(monkeypatch: pytest.MonkeyPatch, cls: Any, attr: str, state: str) -> None:
    """Make the in-process moto leave new snapshots/images in ``state``, as AWS does for a while."""
    original = cls.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        setattr(self, attr, state)

    monkeypatch.setattr(cls, "__init__", init)


def test_pending_snapshots_time_out_and_are_kept(inproc: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = inproc.make_instance()
    _stuck(monkeypatch, elastic_block_store.Snapshot, "status", "pending")
    p = AWSProvider(inproc.settings)
    with pytest.raises(ProviderTimeout, match=r"snapshot set (snapset-\w+) .* not done after 1s; it is kept"):
        p.create(vm, "slow", "", TAGS, timeout=1)
    [kept] = p.list(vm)
    assert kept.state is SnapshotState.CREATING
    with pytest.raises(TaskFailed, match="not completed"):
        p.revert(kept.id)
    assert p.create(vm, "no-wait", "", TAGS, wait=False).state is SnapshotState.CREATING


def test_failed_snapshots_are_deleted(inproc: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = inproc.make_instance()
    _stuck(monkeypatch, elastic_block_store.Snapshot, "status", "error")
    p = AWSProvider(inproc.settings)
    with pytest.raises(TaskFailed, match="half-made and its snapshots were deleted"):
        p.create(vm, "broken", "", TAGS)
    left = inproc.client().describe_snapshots(Filters=[{"Name": "tag-key", "Values": [SET_TAG]}])
    assert left["Snapshots"] == []


def test_pending_image_times_out(inproc: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = inproc.make_instance()
    _stuck(monkeypatch, amis.Ami, "state", "pending")
    p = AWSProvider({**inproc.settings, "mode": "ami"})
    with pytest.raises(ProviderTimeout, match=r"image ami-\w+ not done after 1s; it is kept"):
        p.create(vm, "slow", "", TAGS, timeout=1)
    assert p.create(vm, "no-wait", "", TAGS, wait=False).state is SnapshotState.CREATING


def test_failed_image_is_deregistered(inproc: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = inproc.make_instance()
    _stuck(monkeypatch, amis.Ami, "state", "failed")
    p = AWSProvider({**inproc.settings, "mode": "ami"})
    with pytest.raises(TaskFailed, match="half-made and its snapshots were deleted"):
        p.create(vm, "broken", "", TAGS)
    assert p.list(vm) == []


def test_revert_that_fails_part_way_says_where_it_stopped(inproc: Peer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.ec2.exceptions import EC2ClientError

    p, ec2 = AWSProvider(inproc.settings), inproc.client()
    vm = inproc.make_instance()
    ref = p.create(vm, "before", "", TAGS)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise EC2ClientError("IncorrectState", "the instance cannot take this volume now")

    monkeypatch.setattr(elastic_block_store.EBSBackend, "attach_volume", refuse)
    with pytest.raises(TaskFailed, match=r"IncorrectState.*stopped part-way \(new volumes: /dev/sd.*"
                                         r"detached old volumes: /dev/sda1=vol-\w+.*by hand"):
        p.revert(ref.id)
    inst = ec2.describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] == "stopped", "left stopped for a person to finish, not restarted half-done"


def test_an_endpoint_answering_html_is_unreachable_not_empty_or_raw() -> None:
    """A proxy's login page (200, well-formed HTML) at endpoint_url parses as an empty EC2
    answer: list() said [], get() NotFound (so the agent forgot a live snapshot), and create()
    raised a raw KeyError. Now each is Unreachable."""
    from tests.peers.not_an_api import html_server

    with html_server(200) as url:
        p = AWSProvider({"region": REGION, "endpoint_url": url, **KEYS, "timeout": 5})
        for call in (lambda: p.list("i-0123456789abcdef0"), lambda: p.get("snapset-0123456789abcdef0"),
                     lambda: p.create("i-0123456789abcdef0", "x"),
                     lambda: AWSProvider({"region": REGION, "endpoint_url": url, **KEYS,
                                          "role_arn": "arn:aws:iam::123456789012:role/ba"}).list()):
            with pytest.raises(Unreachable, match="not as an AWS API does"):
                call()


def test_threads_sharing_a_provider_assume_the_role_once(inproc: Peer) -> None:
    """snapshots.take shares one provider between threads: their first calls build one EC2
    client (one AssumeRole), not one each."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from moto.sts.models import sts_backends

    vm = inproc.make_instance()
    p = AWSProvider({**inproc.settings, "role_arn": "arn:aws:iam::123456789012:role/backup"})
    start = threading.Barrier(6)

    def one(_: int) -> int:
        start.wait()
        return len(p.list(vm))

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(one, range(6))) == [0] * 6
    assumed = sts_backends["123456789012"]["aws"].assumed_roles
    assert [r.role_arn for r in assumed] == ["arn:aws:iam::123456789012:role/backup"]
