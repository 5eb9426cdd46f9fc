"""GCPProvider against the loopback GCE emulator (real google-cloud-compute REST calls)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from providers.base import (
    MANAGED_TAG,
    AuthFailed,
    InUse,
    NotFound,
    ProviderConfigError,
    ProviderTimeout,
    SnapshotState,
    TaskFailed,
    Unreachable,
    UnsupportedOption,
)
from providers.gcp import GCPProvider, label_key, label_value, labels_from_tags
from tests.peers.gce_emulator import GCEEmulator
from tests.providers.contract import exercise_contract

TAGS = {MANAGED_TAG: "true", "backup-agent-node": "mgr01"}
KMS = "projects/ba-test/locations/europe-north1/keyRings/ba/cryptoKeys/snapshots"


@pytest.fixture(scope="session")
def gce_server() -> Iterator[GCEEmulator]:
    emu = GCEEmulator(op_delay=0.02).start()
    yield emu
    emu.stop()


@pytest.fixture
def emu(gce_server: GCEEmulator) -> GCEEmulator:
    gce_server.reset()
    return gce_server


def make(emu: GCEEmulator, **extra: Any) -> GCPProvider:
    settings = {"project": emu.project, "zone": emu.zone, "api_endpoint": emu.url, "anonymous": True,
                "timeout": 10, **extra}
    return GCPProvider(settings)


def calls(emu: GCEEmulator, method: str, suffix: str) -> list[tuple[str, str, dict, Any]]:
    return [r for r in emu.requests if r[0] == method and r[1].endswith(suffix)]


def test_contract(emu: GCEEmulator) -> None:
    exercise_contract(make(emu), "pexip-mgr01", "pexip-nosuch")


def test_one_ref_covers_every_disk(emu: GCEEmulator) -> None:
    p = make(emu)
    ref = p.create("pexip-conf01", "pre-upgrade 37", "before v37", TAGS)
    snaps = ref.extra["snapshots"]
    assert [s["device"] for s in snaps] == ["boot", "data1", "data2"]
    assert [s["boot"] for s in snaps] == [True, False, False]
    assert {s["name"] for s in snaps} == {n for n, s in emu.snapshots.items() if s["labels"]["ba-gce-set"] == ref.id}
    assert all(s["status"] == "READY" for s in emu.snapshots.values())
    assert ref.vm == "pexip-conf01" and ref.name == "pre-upgrade-37" and ref.description == "before v37"
    assert [r.id for r in p.list("pexip-conf01")] == [ref.id]
    assert p.list("pexip-mgr01") == []
    # operations were waited on through the emulator (not the public endpoint)
    assert calls(emu, "POST", "/wait")


def test_labels_are_normalised_and_filter_the_same_way(emu: GCEEmulator) -> None:
    p = make(emu)
    tags = {MANAGED_TAG: "true", "Reason": "Pre Upgrade", "backup-agent-expires": "2026-12-01T00:00:00Z",
            "9lives": "x" * 80}
    ref = p.create("pexip-mgr01", "n", "", tags)
    want = {MANAGED_TAG: "true", "reason": "pre-upgrade", "backup-agent-expires": "2026-12-01t00-00-00z",
            "k-9lives": "x" * 63}
    assert dict(ref.tags) == want
    sent = calls(emu, "POST", "/createSnapshot")[0][3]["labels"]
    assert {k: v for k, v in sent.items() if not k.startswith("ba-gce-")} == want
    assert [r.id for r in p.list(tags={"REASON": "pre upgrade"})] == [ref.id]
    assert 'labels.reason = "pre-upgrade"' in calls(emu, "GET", "/global/snapshots")[-1][2]["filter"][0]
    assert p.list(tags={"Reason": "post upgrade"}) == []


def test_label_helpers() -> None:
    assert label_key("Backup Agent/Node") == "backup-agent-node"
    assert label_key("") == "k-"
    assert label_value("Ümlaut.X") == "-mlaut-x"
    with pytest.raises(UnsupportedOption, match="both become label"):
        labels_from_tags({"Reason": "a", "reason": "b"})
    with pytest.raises(UnsupportedOption, match="reserved"):
        labels_from_tags({"ba-gce-set": "x"})


def test_storage_locations_and_kms_key_reach_the_api(emu: GCEEmulator) -> None:
    p = make(emu, storage_locations="europe-north1", kms_key_name=KMS)
    ref = p.create("pexip-mgr01", "n", "", TAGS)
    for _, _, _, body in calls(emu, "POST", "/createSnapshot"):
        assert body["storageLocations"] == ["europe-north1"]
        assert body["snapshotEncryptionKey"] == {"kmsKeyName": KMS}
    assert ref.extra["snapshots"][0]["kms_key_name"] == KMS
    emu.requests.clear()
    p.create("pexip-mgr01", "n", "", TAGS, {"storage_locations": ["eu", "us"], "guest_flush": True})
    first = calls(emu, "POST", "/createSnapshot")[0]
    assert first[3]["storageLocations"] == ["eu", "us"] and first[2]["guestFlush"] == ["true"]


def test_listing_follows_pages(emu: GCEEmulator) -> None:
    p = make(emu, page_size=2)
    ids = {p.create("pexip-conf01", f"s{i}", "", TAGS).id for i in range(2)}
    emu.requests.clear()
    assert {r.id for r in p.list("pexip-conf01", tags=TAGS)} == ids
    pages = calls(emu, "GET", "/global/snapshots")
    assert len(pages) == 3 and all(q["maxResults"] == ["2"] for _, _, q, _ in pages)
    assert [q.get("pageToken") for _, _, q, _ in pages] == [None, ["2"], ["4"]]


def test_missing_instance(emu: GCEEmulator) -> None:
    p = make(emu)
    with pytest.raises(NotFound, match="pexip-gone"):
        p.create("pexip-gone", "n", "", TAGS)
    with pytest.raises(NotFound):
        p.list("pexip-gone")
    assert not p.vm_exists("pexip-gone") and p.vm_exists("pexip-mgr01")
    with pytest.raises(NotFound):
        p.get("not a valid id")
    assert not emu.snapshots


@pytest.mark.parametrize("status", [401, 403])
def test_auth_refused(emu: GCEEmulator, status: int) -> None:
    emu.http_status = status
    with pytest.raises(AuthFailed, match="credentials refused"):
        make(emu).list("pexip-mgr01")


def test_bearer_token_is_sent_and_a_wrong_one_refused(emu: GCEEmulator) -> None:
    emu.token = "good-token"
    settings = {"anonymous": False}
    assert make(emu, access_token="good-token", **settings).list("pexip-mgr01") == []
    with pytest.raises(AuthFailed) as err:
        make(emu, access_token="bad-token", **settings).list("pexip-mgr01")
    assert "bad-token" not in str(err.value)


def test_unreachable_endpoint() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = GCPProvider({"project": "p", "zone": "z", "api_endpoint": f"http://127.0.0.1:{port}", "anonymous": True})
    with pytest.raises(Unreachable, match=f"127.0.0.1:{port}"):
        p.list("pexip-mgr01")


def test_failed_operation_leaves_nothing_half_made(emu: GCEEmulator) -> None:
    emu.fail_ops["createSnapshot"] = "pexip-conf01-data2"  # the last of three disks fails
    with pytest.raises(TaskFailed, match="half-made snapshots deleted") as err:
        make(emu).create("pexip-conf01", "n", "", TAGS)
    assert "injected fault" in str(err.value)
    assert len(calls(emu, "POST", "/createSnapshot")) == 3
    assert emu.snapshots == {}


def test_operation_that_never_finishes_times_out(emu: GCEEmulator) -> None:
    emu.hang_ops.add("createSnapshot")
    with pytest.raises(ProviderTimeout, match="not done in time") as err:
        make(emu).create("pexip-mgr01", "n", "", TAGS, timeout=0.3)
    assert "half-made snapshots deleted" in str(err.value)
    assert emu.snapshots == {}


def test_no_wait_returns_creating(emu: GCEEmulator) -> None:
    emu.hang_ops.add("createSnapshot")
    ref = make(emu).create("pexip-mgr01", "n", "", TAGS, wait=False)
    assert ref.state is SnapshotState.CREATING


def test_revert_swaps_new_disks_in_and_keeps_the_old(emu: GCEEmulator) -> None:
    p = make(emu)
    ref = p.create("pexip-mgr01", "n", "", TAGS)
    p.revert(ref.id)
    inst = emu.instances["pexip-mgr01"]
    assert inst["status"] == "RUNNING"
    by_dev = {a["deviceName"]: a for a in inst["disks"]}
    assert set(by_dev) == {"boot", "data1"} and by_dev["boot"]["boot"] and by_dev["boot"]["autoDelete"]
    for snap in ref.extra["snapshots"]:
        disk = emu.disks[by_dev[snap["device"]]["source"].rsplit("/", 1)[1]]
        assert disk["sourceSnapshot"].endswith("/" + snap["name"])
    assert emu.disks["pexip-mgr01-boot"]["users"] == [] and emu.disks["pexip-mgr01-data1"]["users"] == []
    kinds = [r[1].rsplit("/", 1)[1] for r in emu.requests if r[0] == "POST" and "/instances/" in r[1]]
    assert kinds == ["stop", "detachDisk", "attachDisk", "detachDisk", "attachDisk", "start"]


def test_revert_failure_removes_new_disks_and_leaves_instance(emu: GCEEmulator) -> None:
    p = make(emu)
    ref = p.create("pexip-conf01", "n", "", TAGS)
    emu.fail_ops["insert"] = "-1-r"  # the disk made from the second snapshot
    before = set(emu.disks)
    with pytest.raises(TaskFailed, match="new disks deleted; instance untouched"):
        p.revert(ref.id)
    assert set(emu.disks) == before and emu.instances["pexip-conf01"]["status"] == "RUNNING"


def test_unknown_option_and_bad_settings(emu: GCEEmulator) -> None:
    p = make(emu)
    with pytest.raises(UnsupportedOption, match="memory"):
        p.create("pexip-mgr01", "n", "", TAGS, {"memory": True})
    with pytest.raises(UnsupportedOption, match="storage_locations"):
        p.create("pexip-mgr01", "n", "", TAGS, {"storage_locations": 5})
    assert emu.snapshots == {}
    with pytest.raises(ProviderConfigError, match="project"):
        GCPProvider({"zone": "z"})
    with pytest.raises(ProviderConfigError, match="regoin"):
        GCPProvider({"project": "p", "zone": "z", "regoin": "x"})
    with pytest.raises(ProviderConfigError, match="page_size"):
        make(emu, page_size=501)
    with pytest.raises(ProviderConfigError, match="numbers"):
        make(emu, timeout="soon")
    with pytest.raises(ProviderConfigError, match="kms_key_name"):
        make(emu, kms_key_name="")
    with pytest.raises(ProviderConfigError, match="service-account"):
        make(emu, anonymous=False, credentials="{not json").list()


def test_delete_removes_every_snapshot_of_the_set(emu: GCEEmulator) -> None:
    p = make(emu)
    keep = p.create("pexip-conf01", "keep", "", TAGS)
    gone = p.create("pexip-conf01", "gone", "", TAGS)
    p.delete(gone.id)
    assert {s["labels"]["ba-gce-set"] for s in emu.snapshots.values()} == {keep.id}
    assert len(calls(emu, "DELETE", "")) == 3


def service_account_key(emu: GCEEmulator) -> str:
    """A fresh key, its public half registered with the emulator."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    email = "ba@ba-test.iam.gserviceaccount.com"
    emu.service_accounts[email] = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return json.dumps({"type": "service_account", "project_id": emu.project, "private_key_id": "k1",
                       "private_key": pem, "client_email": email, "client_id": "1",
                       "token_uri": "https://oauth2.googleapis.com/token"})


def test_service_account_key_file_text_and_adc(emu: GCEEmulator, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    emu.token = "some-other-token"  # auth required: only the key's signed JWT gets in
    key = service_account_key(emu)
    path = tmp_path / "sa.json"
    path.write_text(key)
    assert make(emu, anonymous=False, credentials_file=str(path)).list("pexip-mgr01") == []
    assert make(emu, anonymous=False, credentials=key).list("pexip-mgr01") == []
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    assert make(emu, anonymous=False).list("pexip-mgr01") == []
    with pytest.raises(AuthFailed):  # anonymous is refused by this endpoint
        make(emu).list("pexip-mgr01")
    with pytest.raises(AuthFailed):  # a key the project does not know
        other = json.loads(key)
        other["private_key"] = json.loads(service_account_key(emu))["private_key"]
        emu.service_accounts.clear()
        make(emu, anonymous=False, credentials=json.dumps(other)).list("pexip-mgr01")
    with pytest.raises(ProviderConfigError, match="cannot read") as err:
        make(emu, anonymous=False, credentials_file=str(tmp_path / "missing.json")).list()
    with pytest.raises(ProviderConfigError, match="not a service-account") as err:
        make(emu, anonymous=False, credentials=key.replace("private_key", "secret")).list()
    assert "PRIVATE KEY" not in str(err.value)


def test_revert_refuses_when_instance_cannot_stop(emu: GCEEmulator) -> None:
    p = make(emu)
    ref = p.create("pexip-mgr01", "n", "", TAGS)
    emu.fail_ops["stop"] = "pexip-mgr01"
    before = set(emu.disks)
    with pytest.raises(TaskFailed, match="new disks deleted"):
        p.revert(ref.id)
    assert set(emu.disks) == before
    assert {a["deviceName"] for a in emu.instances["pexip-mgr01"]["disks"]} == {"boot", "data1"}


def test_revert_of_a_stopped_instance_leaves_it_stopped(emu: GCEEmulator) -> None:
    p = make(emu)
    ref = p.create("pexip-mgr01", "n", "", TAGS)
    emu.instances["pexip-mgr01"]["status"] = "TERMINATED"
    p.revert(ref.id)
    assert emu.instances["pexip-mgr01"]["status"] == "TERMINATED"
    assert not [r for r in emu.requests if r[1].endswith("/start")]


def test_emulator_speaks_gce(emu: GCEEmulator) -> None:
    """The peer itself: global snapshot insert, filters, and its 400s, through the real SDK."""
    from google.api_core import exceptions as gexc
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    kw: dict[str, Any] = {"credentials": AnonymousCredentials(), "transport": "rest",
                          "client_options": {"api_endpoint": emu.url}}
    snaps = compute_v1.SnapshotsClient(**kw)
    op = snaps.insert_unary(project=emu.project, snapshot_resource=compute_v1.Snapshot(
        name="manual", labels={"team": "video"},
        source_disk=f"projects/{emu.project}/zones/{emu.zone}/disks/pexip-mgr01-boot"))
    assert op.status != compute_v1.Operation.Status.DONE
    done = compute_v1.ZoneOperationsClient(**kw).wait(project=emu.project, zone=emu.zone, operation=op.name)
    assert done.status == compute_v1.Operation.Status.DONE
    assert snaps.get(project=emu.project, snapshot="manual").status == "READY"

    def names(flt: str) -> list[str]:
        return [s.name for s in snaps.list(request=compute_v1.ListSnapshotsRequest(project=emu.project, filter=flt))]
    assert names('labels.team = "video"') == ["manual"]
    assert names("labels.team != video") == []
    assert names('name = "manual" AND labels.team = "video"') == ["manual"]
    with pytest.raises(gexc.BadRequest, match="filter"):
        names("labels.team ~ vid.*")
    with pytest.raises(gexc.BadRequest, match="labels"):
        snaps.insert_unary(project=emu.project, snapshot_resource=compute_v1.Snapshot(
            name="bad", labels={"Team": "video"},
            source_disk=f"projects/{emu.project}/zones/{emu.zone}/disks/pexip-mgr01-boot"))
    gop = snaps.delete_unary(project=emu.project, snapshot="manual")
    compute_v1.GlobalOperationsClient(**kw).wait(project=emu.project, operation=gop.name)
    with pytest.raises(gexc.NotFound):
        snaps.get(project=emu.project, snapshot="manual")


def test_instance_without_snapshotable_disks_is_refused(emu: GCEEmulator) -> None:
    p = make(emu)
    disks = emu.instances["pexip-conf01"]["disks"]
    disks[1]["source"] = disks[1]["source"].replace(f"zones/{emu.zone}", "regions/europe-north1")
    with pytest.raises(UnsupportedOption, match="regional disks"):
        p.create("pexip-conf01", "n", "", TAGS)
    emu.instances["pexip-conf01"]["disks"] = []
    with pytest.raises(UnsupportedOption, match="no persistent disk"):
        p.create("pexip-conf01", "n", "", TAGS)
    assert emu.snapshots == {}


def test_unavailable_service_is_retried_then_unreachable_in_time(emu: GCEEmulator) -> None:
    import google.cloud.compute_v1  # noqa: F401 - its slow first import is not the provider's time

    emu.http_status = 503
    started = time.monotonic()
    with pytest.raises(Unreachable, match="service unavailable"):
        make(emu, timeout=1).list("pexip-mgr01")
    assert time.monotonic() - started < 5
    assert len(calls(emu, "GET", "/instances/pexip-mgr01")) > 1  # retried, reads only


def test_silent_endpoint_times_out() -> None:
    import google.cloud.compute_v1  # noqa: F401 - its slow first import is not the provider's time

    with socket.socket() as s:  # accepts connections (backlog) and never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        p = GCPProvider({"project": "p", "zone": "z", "anonymous": True, "timeout": 0.5,
                         "api_endpoint": f"http://127.0.0.1:{s.getsockname()[1]}"})
        started = time.monotonic()
        with pytest.raises(ProviderTimeout):
            p.list("pexip-mgr01")
        assert time.monotonic() - started < 5


def test_revert_failing_mid_swap_names_what_to_fix(emu: GCEEmulator) -> None:
    p = make(emu)
    ref = p.create("pexip-mgr01", "n", "", TAGS)
    emu.fail_ops["attachDisk"] = "pexip-mgr01"
    with pytest.raises(TaskFailed, match="left stopped") as err:
        p.revert(ref.id)
    msg = str(err.value)
    assert "devices already swapped: none" in msg and "old disks: pexip-mgr01-boot, pexip-mgr01-data1" in msg
    assert emu.instances["pexip-mgr01"]["status"] == "TERMINATED"
    assert "pexip-mgr01-boot" in emu.disks  # the old boot disk is kept, only detached


def test_disk_in_use_maps_to_in_use(emu: GCEEmulator) -> None:
    p = make(emu)
    with pytest.raises(InUse, match="still in use"):
        p.api.call("deleting disk", "DisksClient.delete_unary", project=emu.project, zone=emu.zone,
                   disk="pexip-mgr01-boot")


def test_importing_the_provider_does_not_import_the_sdk() -> None:
    code = "import sys, providers.gcp; sys.exit(any(m.startswith('google') for m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                          check=False).returncode == 0


def test_agent_toml_settings_parallel_snapshots_and_tags(emu: GCEEmulator, tmp_path: Path) -> None:
    """agent.toml (credentials_file, api_endpoint, storage_locations...) -> config -> snapshots.take.

    The deployment's name has capitals, '.' and '_': its label is normalised, and the agent's
    tags still find the snapshots again."""
    from tests.providers.via_agent import check_tags_round_trip, take_through_agent

    emu.token = "some-other-token"  # auth required: only the key's signed JWT gets in
    path = tmp_path / "sa.json"
    path.write_text(service_account_key(emu))
    table = (f'type = "gcp"\nproject = "{emu.project}"\nzone = "{emu.zone}"\napi_endpoint = "{emu.url}"\n'
             f'credentials_file = "{path}"\nstorage_locations = "eu"\nkms_key_name = "{KMS}"\n'
             f'timeout = 20\npage_size = 2\n')
    result = take_through_agent(tmp_path, table, ["pexip-mgr01", "pexip-conf01"])
    try:
        check_tags_round_trip(result)
        ref = result.provider.get(result.points[0].data["provider_id"])
        assert ref.tags["backup-agent-deployment"] == "prod-osl_1"
        assert ref.extra["snapshots"][0]["storage_locations"] == ["eu"]
        assert ref.extra["snapshots"][0]["kms_key_name"] == KMS
    finally:
        result.env.close()


def test_an_endpoint_answering_html_is_unreachable_not_a_raw_parse_error() -> None:
    """A proxy's login page (200, HTML) at api_endpoint: a typed error, not protobuf's ParseError."""
    from tests.peers.not_an_api import html_server

    with html_server(200) as url:
        p = GCPProvider({"project": "ba-test", "zone": "europe-north1-a", "api_endpoint": url,
                         "anonymous": True, "timeout": 5})
        for call in (lambda: p.list("pexip-mgr01"), lambda: p.get("ba-123456789abc"),
                     lambda: p.create("pexip-mgr01", "x")):
            with pytest.raises(Unreachable, match="not the Compute Engine API"):
                call()


def test_a_wrong_project_is_not_read_as_a_deleted_snapshot(emu: GCEEmulator) -> None:
    """The agent deletes a catalog entry whose get() says NotFound: a 404 for the project's
    snapshot collection (a typo in project, a wrong api_endpoint) must not say the set is gone."""
    ref = make(emu).create("pexip-mgr01", "kept", tags=TAGS)
    wrong = make(emu, project="ba-tset")
    with pytest.raises(ProviderConfigError, match="project 'ba-tset'"):
        wrong.get(ref.id)
    with pytest.raises(ProviderConfigError, match="project 'ba-tset'"):
        wrong.delete(ref.id)
    assert make(emu).get(ref.id).id == ref.id
