"""AWSProvider against moto: in process, and moto_server reached through endpoint_url."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from providers._aws_ops import DEVICE_TAG, REPLACED_TAG, RESTORED_TAG, SET_TAG
from providers.aws import AWSProvider
from providers.base import MANAGED_TAG, InUse, NotFound, ProviderConfigError, TaskFailed, UnsupportedOption
from tests.providers import aws_peers
from tests.providers.aws_peers import REGION, Peer, volumes
from tests.providers.contract import exercise_contract

MISSING = "i-0123456789abcdef0"
TAGS = {MANAGED_TAG: "true", "backup-agent-reason": "pre-upgrade"}
pytestmark = pytest.mark.peer("moto")
# the peers' fixtures, bound here so pytest finds them
aws_env, moto_server = aws_peers.aws_env, aws_peers.moto_server
inproc, server, peer = aws_peers.inproc, aws_peers.server, aws_peers.peer


def provider(p: Peer, **settings: Any) -> AWSProvider:
    return AWSProvider({**p.settings, **settings})


@pytest.mark.parametrize("mode", ["ebs", "ami"])
def test_contract(peer: Peer, mode: str) -> None:
    # an AMI cannot be reverted onto its instance (test_revert_of_ami_is_unsupported)
    exercise_contract(provider(peer, mode=mode), peer.make_instance(), MISSING, revert=mode == "ebs")


def test_ebs_set_is_one_snapshot_of_all_volumes(peer: Peer) -> None:
    vm = peer.make_instance()
    ref = provider(peer).create(vm, "pre-upgrade mgr01", "before 38", TAGS)
    assert ref.id.startswith("snapset-") and ref.vm == vm and ref.name == "pre-upgrade mgr01"
    assert ref.description == "before 38" and ref.extra["mode"] == "ebs"
    snaps = ref.extra["snapshots"]
    assert {s["device"] for s in snaps} == {"/dev/sda1", "/dev/sdf"}
    assert {s["volume_id"] for s in snaps} == set(volumes(peer.client(), vm).values())
    described = peer.client().describe_snapshots(SnapshotIds=[s["id"] for s in snaps])["Snapshots"]
    for snap in described:
        tags = {t["Key"]: t["Value"] for t in snap["Tags"]}
        assert tags[SET_TAG] == ref.id and tags[MANAGED_TAG] == "true"
        assert tags["role"] == f"mgr01:{tags[DEVICE_TAG]}", "each snapshot has its own volume's tags"
    # the set's tags are those all its snapshots share
    assert ref.tags["team"] == "video" and "role" not in ref.tags


def test_volume_tags_not_copied_when_disabled(inproc: Peer) -> None:
    vm = inproc.make_instance()
    ref = provider(inproc, copy_volume_tags=False).create(vm, "no-copy", "", TAGS)
    described = inproc.client().describe_snapshots(SnapshotIds=[s["id"] for s in ref.extra["snapshots"]])
    for snap in described["Snapshots"]:
        keys = {t["Key"] for t in snap["Tags"]}
        assert "role" not in keys and "team" not in keys and DEVICE_TAG in keys


def test_ami_mode(inproc: Peer) -> None:
    vm = inproc.make_instance()
    ec2 = inproc.client()
    ref = provider(inproc, mode="ami").create(vm, "pre upgrade: mgr01?", "d", TAGS)
    assert ref.id.startswith("ami-") and ref.name == "pre upgrade: mgr01?"
    assert ref.extra["image_name"].startswith("pre upgrade- mgr01--"), "made AMI-safe and unique"
    image = ec2.describe_images(ImageIds=[ref.id])["Images"][0]
    snap_ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]]
    # moto images the root volume only; AWS would list both volumes here
    assert snap_ids and {s["id"] for s in ref.extra["snapshots"]} == set(snap_ids)
    for snap in ec2.describe_snapshots(SnapshotIds=snap_ids)["Snapshots"]:
        assert {"Key": MANAGED_TAG, "Value": "true"} in snap["Tags"], "the AMI's snapshots are tagged too"
    provider(inproc).delete(ref.id)   # the mode setting does not matter for an ami- id
    assert ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": snap_ids}])["Snapshots"] == []


def test_list_filters_by_vm_and_tags(peer: Peer) -> None:
    p = provider(peer)
    vm1, vm2 = peer.make_instance("mgr01"), peer.make_instance("cnf01")
    a = p.create(vm1, "a", "", {**TAGS, "backup-agent-reason": "pre-upgrade"})
    b = p.create(vm1, "b", "", {**TAGS, "backup-agent-reason": "manual"})
    c = provider(peer, mode="ami").create(vm2, "c", "", TAGS)
    peer.client().create_snapshot(VolumeId=volumes(peer.client(), vm1)["/dev/sdf"])  # not the agent's
    assert {r.id for r in p.list(vm1)} == {a.id, b.id}
    assert [r.id for r in p.list(vm2)] == [c.id]
    assert [r.id for r in p.list(vm1, {"backup-agent-reason": "manual"})] == [b.id]
    assert {r.id for r in p.list(tags={"backup-agent-reason": "pre-upgrade"})} == {a.id, c.id}
    assert {r.id for r in p.list()} == {a.id, b.id, c.id}
    assert p.list(tags={MANAGED_TAG: "false"}) == []


def test_delete_of_snapshot_in_use(peer: Peer) -> None:
    p, ec2 = provider(peer), peer.client()
    vm = peer.make_instance()
    ref = p.create(vm, "in-use", "", TAGS)
    # moto's register_image ignores block device mappings, so the snapshot an AMI needs is
    # made by create_image and then tagged into the set: deleting it is InvalidSnapshot.InUse
    ami = ec2.create_image(InstanceId=vm, Name="someone-elses-image")["ImageId"]
    used = ec2.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    ec2.create_tags(Resources=[used], Tags=[{"Key": SET_TAG, "Value": ref.id},
                                            {"Key": DEVICE_TAG, "Value": "/dev/sdg"}])
    assert len(p.get(ref.id).extra["snapshots"]) == 3
    with pytest.raises(InUse, match=f"{used} still in use .*deregister it, then delete {ref.id} again"):
        p.delete(ref.id)
    assert [s["id"] for s in p.get(ref.id).extra["snapshots"]] == [used], "the unused ones are gone"
    ec2.deregister_image(ImageId=ami)
    p.delete(ref.id)
    with pytest.raises(NotFound):
        p.get(ref.id)


def test_revert_swaps_in_volumes_from_the_set(peer: Peer, caplog: pytest.LogCaptureFixture) -> None:
    p, ec2 = provider(peer), peer.client()
    vm = peer.make_instance()
    old = volumes(ec2, vm)
    old_types = {v["VolumeId"]: (v["VolumeType"], v.get("Iops"))
                 for v in ec2.describe_volumes(VolumeIds=list(old.values()))["Volumes"]}
    ref = p.create(vm, "before", "", TAGS)
    by_device = {s["device"]: s["id"] for s in ref.extra["snapshots"]}
    with caplog.at_level(logging.INFO, logger="providers.aws"):
        p.revert(ref.id)
    inst = ec2.describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] == "running"
    now = {m["DeviceName"]: m["Ebs"] for m in inst["BlockDeviceMappings"]}
    assert set(now) == {"/dev/sda1", "/dev/sdf"}
    assert now["/dev/sda1"]["DeleteOnTermination"] is True and now["/dev/sdf"]["DeleteOnTermination"] is False
    for device, ebs in now.items():
        vol = ec2.describe_volumes(VolumeIds=[ebs["VolumeId"]])["Volumes"][0]
        assert ebs["VolumeId"] != old[device] and vol["SnapshotId"] == by_device[device]
        assert (vol["VolumeType"], vol.get("Iops")) == old_types[old[device]], "same type and IOPS"
        tags = {t["Key"]: t["Value"] for t in vol["Tags"]}
        assert tags[RESTORED_TAG] == ref.id and tags["role"] == f"mgr01:{device}"
    kept = ec2.describe_volumes(VolumeIds=list(old.values()))["Volumes"]
    assert {v["State"] for v in kept} == {"available"}, "old volumes are kept, detached"
    assert all({"Key": REPLACED_TAG, "Value": ref.id} in v["Tags"] for v in kept)
    assert all(vol in caplog.text for vol in old.values()), "the log names the kept volumes"


def test_revert_leaves_a_stopped_instance_stopped(inproc: Peer) -> None:
    p, ec2 = provider(inproc), inproc.client()
    vm = inproc.make_instance()
    ref = p.create(vm, "before", "", TAGS)
    ec2.stop_instances(InstanceIds=[vm])
    p.revert(ref.id)
    inst = ec2.describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] == "stopped"
    assert {m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"]}.isdisjoint(
        {s["volume_id"] for s in ref.extra["snapshots"]})


def test_revert_of_ami_is_unsupported(inproc: Peer) -> None:
    p = provider(inproc, mode="ami")
    ref = p.create(inproc.make_instance(), "ami", "", TAGS)
    with pytest.raises(UnsupportedOption, match="launch a replacement"):
        p.revert(ref.id)


def test_missing_instance_and_snapshots(peer: Peer) -> None:
    p = provider(peer)
    assert p.list(MISSING) == []
    assert p.vm_exists(MISSING) is False
    vm = peer.make_instance()
    assert p.vm_exists(vm) is True
    ref = p.create(vm, "last", "", TAGS)
    peer.client().terminate_instances(InstanceIds=[vm])
    assert p.vm_exists(vm) is False
    assert [r.id for r in p.list(vm)] == [ref.id], "a gone instance's snapshots are still listed"
    with pytest.raises(TaskFailed, match="terminated; revert needs it running or stopped"):
        p.revert(ref.id)
    with pytest.raises(NotFound):
        provider(peer, mode="ami").create(MISSING, "x", "", TAGS)
    for missing in ("snapset-0123456789abcdef0", "ami-0123456789abcdef0", "vol-1", "mgr01"):
        with pytest.raises(NotFound):
            p.get(missing)
        with pytest.raises(NotFound):
            p.delete(missing)
        with pytest.raises(NotFound):
            p.revert(missing)


def test_unknown_and_misplaced_options(inproc: Peer) -> None:
    p = provider(inproc)
    vm = inproc.make_instance()
    with pytest.raises(UnsupportedOption, match=r"memory \(known: copy_volume_tags, mode, no_reboot\)"):
        p.create(vm, "x", "", TAGS, {"memory": True})
    with pytest.raises(UnsupportedOption, match="no_reboot applies to mode ami"):
        p.create(vm, "x", "", TAGS, {"no_reboot": False})
    with pytest.raises(UnsupportedOption, match="copy_volume_tags applies to mode ebs"):
        p.create(vm, "x", "", TAGS, {"mode": "ami", "copy_volume_tags": True})
    with pytest.raises(ProviderConfigError, match="mode must be one of ebs, ami"):
        p.create(vm, "x", "", TAGS, {"mode": "lvm"})
    assert p.list(vm) == [], "nothing was made by the refused calls"
    ref = p.create(vm, "x", "", TAGS, {"mode": "ami", "no_reboot": False})
    assert ref.id.startswith("ami-")


@pytest.mark.parametrize(("settings", "message"), [
    ({"region": REGION, "password": "x"}, "unknown setting"),
    ({"mode": "snapshot"}, "mode must be one of"),
    ({"copy_volume_tags": "yes"}, "copy_volume_tags must be true or false"),
    ({"access_key_id": "AKIA"}, "set both access_key_id and secret_access_key"),
    ({"timeout": "soon"}, "timeout must be a number of seconds"),
])
def test_bad_settings(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        AWSProvider(settings)


def test_missing_profile_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError, match="nope"):
        AWSProvider({"region": REGION, "profile": "nope"}).list()


def test_missing_region_is_a_config_error() -> None:
    with pytest.raises(ProviderConfigError, match="no region: set region"):
        AWSProvider({"access_key_id": "a", "secret_access_key": "b"}).list()


@pytest.mark.parametrize("mode", ["ebs", "ami"])
def test_agent_toml_settings_parallel_snapshots_and_tags(server: Peer, mode: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """agent.toml (endpoint_url, *_env and *_file keys) -> config -> snapshots.take on moto_server."""
    from tests.providers.via_agent import check_tags_round_trip, take_through_agent

    monkeypatch.setenv("BA_AWS_KEY_ID", "testing")
    secret = tmp_path / "aws-secret"
    secret.write_text("testing\n")
    table = (f'type = "aws"\nregion = "{REGION}"\nendpoint_url = "{server.settings["endpoint_url"]}"\n'
             f'access_key_id_env = "BA_AWS_KEY_ID"\nsecret_access_key_file = "{secret}"\n'
             f'mode = "{mode}"\ncopy_volume_tags = true\nno_reboot = true\ntimeout = 30\n')
    vms = [server.make_instance(f"vm{i}") for i in range(4)]
    result = take_through_agent(tmp_path, table, vms)
    try:
        check_tags_round_trip(result)
    finally:
        result.env.close()
