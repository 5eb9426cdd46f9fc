"""The Azure provider against the loopback ARM emulator (real azure-mgmt-compute over HTTP)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from providers.azure import AzureProvider
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
from tests.peers.arm_emulator import READONLY_TOKEN, RG, SUB, TOKEN, ArmEmulator
from tests.peers.entra_tls import CLIENT_ID, CLIENT_SECRET, TENANT, make_certificate
from tests.providers.contract import exercise_contract

VM = "pexip-mgr01"  # OS disk + 2 data disks
OTHER_VM = "pexip-conf01"  # OS disk + 1 data disk
TAGS = {MANAGED_TAG: "true", "backup-agent-reason": "pre-upgrade"}


class StaticToken:
    """A real azure.core TokenCredential handing out one fixed token (what a test tenant would)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="session")
def emulator() -> Iterator[ArmEmulator]:
    emu = ArmEmulator()
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def arm(emulator: ArmEmulator) -> ArmEmulator:
    emulator.reset()
    return emulator


def settings(arm: ArmEmulator, **more: Any) -> dict[str, Any]:
    return {"subscription_id": SUB, "resource_group": RG, "base_url": arm.url, "allow_http": True,
            "timeout": 10, "retries": 0, **more}


@pytest.fixture
def provider(arm: ArmEmulator) -> Iterator[AzureProvider]:
    with AzureProvider(settings(arm), credential=StaticToken(TOKEN)) as p:
        yield p  # type: ignore[misc]


def snapshots(arm: ArmEmulator) -> list[dict[str, Any]]:
    return arm.of_kind("snapshots")


def test_contract(provider: AzureProvider) -> None:
    exercise_contract(provider, VM, "no-such-vm")


def test_contract_with_vm_resource_id(provider: AzureProvider, arm: ArmEmulator) -> None:
    exercise_contract(provider, arm.rid("virtualMachines", OTHER_VM), arm.rid("virtualMachines", "gone"))


def test_one_snapshot_per_disk_in_one_set(provider: AzureProvider, arm: ArmEmulator) -> None:
    ref = provider.create(VM, "pre-upgrade", "before 38", TAGS)
    made = snapshots(arm)
    assert len(made) == 3
    vm = arm.find(arm.rid("virtualMachines", VM))
    assert vm is not None
    profile = vm["properties"]["storageProfile"]
    disks = [profile["osDisk"]["managedDisk"]["id"]] + [d["managedDisk"]["id"] for d in profile["dataDisks"]]
    assert sorted(s["properties"]["creationData"]["sourceResourceId"] for s in made) == sorted(disks)
    assert all(s["properties"]["creationData"]["createOption"] == "Copy" for s in made)
    assert all(s["properties"]["incremental"] is True for s in made)
    assert all(s["tags"]["backup-agent-reason"] == "pre-upgrade" for s in made)
    assert len({s["tags"]["backup-agent-set"] for s in made}) == 1
    # the set is one ref, known by the OS disk snapshot's resource id, members in extra
    assert ref.id.endswith("-os") and ref.id == arm.find(ref.id)["id"]  # type: ignore[index]
    assert [d["role"] for d in ref.extra["disks"]] == ["os", "lun0", "lun1"]
    assert ref.vm == VM and ref.name == "pre-upgrade" and ref.description == "before 38"
    assert [r.id for r in provider.list()] == [ref.id]
    # any member id resolves to the same set
    assert provider.get(ref.extra["disks"][2]["snapshot_id"]).id == ref.id


def test_any_name_becomes_a_valid_resource_name(provider: AzureProvider, arm: ArmEmulator) -> None:
    name = "pre upgrade/38.1 to 39 — " + "x" * 90
    ref = provider.create(VM, name, tags=TAGS)
    assert ref.name == name[:256] and provider.get(ref.id).name == ref.name
    assert all(len(s["name"]) <= 80 and s["name"].startswith("pre-upgrade-38-1-to-39") for s in snapshots(arm))


def test_incremental_setting_and_option(arm: ArmEmulator) -> None:
    with AzureProvider(settings(arm, incremental=False), credential=StaticToken(TOKEN)) as p:
        full = p.create(VM, "full", tags=TAGS)
        inc = p.create(VM, "inc", tags=TAGS, options={"incremental": True})
    by_set = {s["tags"]["backup-agent-set"]: s["properties"]["incremental"] for s in snapshots(arm)}
    assert by_set[full.extra["set"]] is False and full.extra["incremental"] is False
    assert by_set[inc.extra["set"]] is True and inc.extra["incremental"] is True


def test_list_filters_by_vm_and_tags(provider: AzureProvider) -> None:
    a = provider.create(VM, "a", tags={**TAGS, "backup-agent-reason": "a"})
    b = provider.create(VM, "b", tags={**TAGS, "backup-agent-reason": "b"})
    c = provider.create(OTHER_VM, "c", tags=TAGS)
    assert [r.id for r in provider.list(VM, tags={"backup-agent-reason": "a"})] == [a.id]
    assert {r.id for r in provider.list(VM)} == {a.id, b.id}
    assert [r.id for r in provider.list(OTHER_VM)] == [c.id]
    assert {r.id for r in provider.list(tags={MANAGED_TAG: "true"})} == {a.id, b.id, c.id}
    assert provider.list(tags={MANAGED_TAG: "false"}) == []


def test_list_follows_next_link(provider: AzureProvider, arm: ArmEmulator) -> None:
    refs = [provider.create(VM, f"s{i}", tags=TAGS) for i in range(3)]  # 9 snapshots, pages of 2
    arm.requests.clear()
    assert {r.id for r in provider.list(VM)} == {r.id for r in refs}
    pages = [p for m, p in arm.requests if m == "GET" and "$skiptoken" in p]
    assert len(pages) == 4


def test_missing_vm(provider: AzureProvider, arm: ArmEmulator) -> None:
    with pytest.raises(NotFound, match="no-such-vm"):
        provider.create("no-such-vm", "x", tags=TAGS)
    with pytest.raises(NotFound):
        provider.list("no-such-vm")
    assert provider.vm_exists("no-such-vm") is False and provider.vm_exists(VM) is True
    other_sub = arm.rid("virtualMachines", VM).replace(SUB, "11111111-0000-0000-0000-000000000000")
    with pytest.raises(NotFound, match="subscription"):
        provider.create(other_sub, "x")
    with pytest.raises(NotFound):
        provider.get("snap-without-an-id")
    with AzureProvider(settings(arm, resource_group="rg-gone"), credential=StaticToken(TOKEN)) as p, \
            pytest.raises(NotFound, match="ResourceGroupNotFound"):
        p.list()
    assert snapshots(arm) == []


def test_wrong_token_is_auth_failed(arm: ArmEmulator) -> None:
    with AzureProvider(settings(arm), credential=StaticToken("stolen-token-xyz")) as p:
        with pytest.raises(AuthFailed) as err:
            p.create(VM, "x", tags=TAGS)
        assert "stolen-token-xyz" not in str(err.value)
        with pytest.raises(AuthFailed):
            p.list()


def test_forbidden_is_auth_failed_and_makes_nothing(arm: ArmEmulator) -> None:
    with AzureProvider(settings(arm), credential=StaticToken(READONLY_TOKEN)) as p:
        assert p.list(VM) == []  # reading is allowed
        with pytest.raises(AuthFailed, match="not authorised"):
            p.create(VM, "x", tags=TAGS)
    assert snapshots(arm) == []


def test_unreachable(arm: ArmEmulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with AzureProvider(settings(arm, base_url=f"http://127.0.0.1:{port}"), credential=StaticToken(TOKEN)) as p:
        with pytest.raises(Unreachable, match=str(port)):
            p.create(VM, "x", tags=TAGS)
        with pytest.raises(Unreachable):
            p.get(arm.rid("snapshots", "x"))


def test_failed_operation_removes_the_half_made_set(provider: AzureProvider, arm: ArmEmulator) -> None:
    arm.lro_plan = ["Succeeded", "Failed"]  # the OS disk snapshot works, the first data disk's fails
    with pytest.raises(TaskFailed, match="removed the 3 half-made"):
        provider.create(VM, "x", tags=TAGS)
    assert snapshots(arm) == []


def test_refused_put_removes_what_was_started(provider: AzureProvider, arm: ArmEmulator) -> None:
    arm.fail_next("PUT", 400, "BadRequest", "disk is being resized", skip=1)
    with pytest.raises(TaskFailed, match="BadRequest") as err:
        provider.create(VM, "x", tags=TAGS)
    assert "removed the 1 half-made" in str(err.value)
    assert snapshots(arm) == []


def test_cleanup_that_fails_names_what_is_left(provider: AzureProvider, arm: ArmEmulator) -> None:
    arm.lro_plan = ["Failed"]
    arm.fail_next("DELETE", 409, "OperationNotAllowed")
    with pytest.raises(TaskFailed) as err:
        provider.create(OTHER_VM, "x", tags=TAGS)
    left = [s["id"] for s in snapshots(arm)]
    assert len(left) == 1 and left[0] in str(err.value) and "delete by hand" in str(err.value)


def test_operation_that_never_ends_times_out(provider: AzureProvider, arm: ArmEmulator) -> None:
    arm.lro_plan = ["Never"]
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"not done within 0.5 s; removed the 3 half-made"):
        provider.create(VM, "x", tags=TAGS, timeout=0.5)
    assert time.monotonic() - started < 5
    assert snapshots(arm) == []  # the late snapshot was deleted, not left behind


def test_no_wait_returns_a_creating_set(provider: AzureProvider, arm: ArmEmulator) -> None:
    arm.lro_plan = ["Never", "Never", "Never"]
    ref = provider.create(VM, "x", tags=TAGS, wait=False)
    assert ref.state is SnapshotState.CREATING and len(ref.extra["disks"]) == 3
    assert provider.get(ref.id).state is SnapshotState.CREATING
    provider.delete(ref.id)
    assert snapshots(arm) == []


def test_delete_refused_is_in_use(provider: AzureProvider, arm: ArmEmulator) -> None:
    ref = provider.create(OTHER_VM, "x", tags=TAGS)
    arm.fail_next("DELETE", 409, "OperationNotAllowed", "Snapshot has an active SAS export")
    with pytest.raises(InUse):
        provider.delete(ref.id)


def test_unknown_option_and_bad_settings(arm: ArmEmulator, provider: AzureProvider) -> None:
    with pytest.raises(UnsupportedOption, match="incremental"):
        provider.create(VM, "x", options={"memory": True})
    with pytest.raises(UnsupportedOption, match="true or false"):
        provider.create(VM, "x", options={"incremental": "yes"})
    bad: list[dict[str, Any]] = [
        {**settings(arm), "region": "westeurope"},
        {k: v for k, v in settings(arm).items() if k != "subscription_id"},
        {**settings(arm), "allow_http": False},
        {k: v for k, v in settings(arm).items() if k != "base_url"},
        {**settings(arm), "retries": -1},
        {**settings(arm), "timeout": "soon"},
        {**settings(arm), "timeout": 0},
        {**settings(arm), "base_url": "management.example"},
        {**settings(arm), "incremental": "no"},
        {**settings(arm), "client_secret": "s3cr3t-value"},
    ]
    for s in bad:
        with pytest.raises(ProviderConfigError) as err:
            AzureProvider(s, credential=StaticToken(TOKEN))
        assert "s3cr3t-value" not in str(err.value)
    assert snapshots(arm) == []


def test_revert_swaps_in_disks_made_from_the_snapshots(provider: AzureProvider, arm: ArmEmulator) -> None:
    vm_id = arm.rid("virtualMachines", VM)
    before = arm.find(vm_id)["properties"]["storageProfile"]  # type: ignore[index]
    old_ids = [before["osDisk"]["managedDisk"]["id"]] + [d["managedDisk"]["id"] for d in before["dataDisks"]]
    ref = provider.create(VM, "x", tags=TAGS)
    provider.revert(ref.id)
    vm = arm.find(vm_id)
    assert vm is not None and vm["_power"] == "running"
    after = vm["properties"]["storageProfile"]
    new_ids = [after["osDisk"]["managedDisk"]["id"]] + [d["managedDisk"]["id"] for d in after["dataDisks"]]
    sources = [arm.find(i)["properties"]["creationData"]["sourceResourceId"] for i in new_ids]  # type: ignore[index]
    assert sources == [d["snapshot_id"] for d in ref.extra["disks"]]
    for old in old_ids:  # kept, detached
        disk = arm.find(old)
        assert disk is not None and "managedBy" not in disk
    assert ("POST", "deallocate") in {(m, p.split("?")[0].rsplit("/", 1)[1]) for m, p in arm.requests}


def test_revert_of_a_deallocated_vm_leaves_it_deallocated(provider: AzureProvider, arm: ArmEmulator) -> None:
    ref = provider.create(OTHER_VM, "x", tags=TAGS)
    arm.find(arm.rid("virtualMachines", OTHER_VM))["_power"] = "deallocated"  # type: ignore[index]
    provider.revert(ref.id)
    assert arm.find(arm.rid("virtualMachines", OTHER_VM))["_power"] == "deallocated"  # type: ignore[index]


def test_revert_whose_swap_fails_restores_the_vm(provider: AzureProvider, arm: ArmEmulator) -> None:
    ref = provider.create(OTHER_VM, "x", tags=TAGS)
    vm_id = arm.rid("virtualMachines", OTHER_VM)
    before = arm.find(vm_id)["properties"]["storageProfile"]  # type: ignore[index]
    disks_before = {d["id"] for d in arm.of_kind("disks")}
    arm.fail_next("PUT", 409, "OperationNotAllowed", "disk swap refused", skip=2)  # after the 2 disk PUTs
    with pytest.raises(TaskFailed, match="removed the 2 restored disk") as err:
        provider.revert(ref.id)
    assert "started again" in str(err.value)
    vm = arm.find(vm_id)
    assert vm is not None and vm["properties"]["storageProfile"] == before and vm["_power"] == "running"
    assert {d["id"] for d in arm.of_kind("disks")} == disks_before


def test_revert_without_wait_returns_before_the_vm_is_up(provider: AzureProvider, arm: ArmEmulator) -> None:
    ref = provider.create(OTHER_VM, "x", tags=TAGS)
    arm.lro_plan = ["Succeeded"] * 4 + ["Never"]  # 2 disks, deallocate, swap; the start never ends
    started = time.monotonic()
    provider.revert(ref.id, wait=False, timeout=5)
    assert time.monotonic() - started < 3
    vm = arm.find(arm.rid("virtualMachines", OTHER_VM))
    assert vm is not None and vm["_power"] == "deallocated"  # start requested, not done
    os_disk = arm.find(vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"])
    assert os_disk is not None and os_disk["properties"]["creationData"]["sourceResourceId"] == ref.id


def test_revert_that_times_out_removes_the_new_disks(provider: AzureProvider, arm: ArmEmulator) -> None:
    ref = provider.create(OTHER_VM, "x", tags=TAGS)
    disks_before = {d["id"] for d in arm.of_kind("disks")}
    arm.lro_plan = ["Succeeded", "Succeeded", "Never"]  # the deallocate never ends
    with pytest.raises(ProviderTimeout, match="deallocate") as err:
        provider.revert(ref.id, timeout=0.5)
    assert "removed the 2 restored disk" in str(err.value)
    assert {d["id"] for d in arm.of_kind("disks")} == disks_before


def test_revert_whose_disk_fails_touches_nothing(provider: AzureProvider, arm: ArmEmulator) -> None:
    ref = provider.create(OTHER_VM, "x", tags=TAGS)
    disks_before = {d["id"] for d in arm.of_kind("disks")}
    arm.lro_plan = ["Succeeded", "Failed"]  # the data disk from its snapshot fails
    with pytest.raises(TaskFailed, match="removed the 2 restored disk"):
        provider.revert(ref.id)
    assert {d["id"] for d in arm.of_kind("disks")} == disks_before
    assert arm.find(arm.rid("virtualMachines", OTHER_VM))["_power"] == "running"  # type: ignore[index]
    assert not [r for r in arm.requests if r[1].split("?")[0].endswith("/deallocate")]


def test_vm_resource_id_is_matched_case_insensitively(provider: AzureProvider, arm: ArmEmulator) -> None:
    ref = provider.create(VM, "x", tags=TAGS)
    assert [r.id for r in provider.list(arm.rid("virtualMachines", VM).upper().replace(SUB.upper(), SUB))] == [ref.id]
    provider.close()
    provider.close()  # safe twice


# -- the production path: ARM over https with a private CA, a service principal from Entra ID --

@pytest.fixture(scope="session")
def tls_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArmEmulator, Path]]:
    cert, key = make_certificate(tmp_path_factory.mktemp("arm-tls"))
    emu = ArmEmulator()
    emu.start(tls=(cert, key))
    yield emu, cert
    emu.stop()


def principal(emu: ArmEmulator, cert: Path, **more: Any) -> dict[str, Any]:
    return {"subscription_id": SUB, "resource_group": RG, "base_url": emu.url, "authority": emu.url,
            "instance_discovery": False, "ca_bundle": str(cert), "tenant_id": TENANT,
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "timeout": 10, "retries": 0, **more}


def test_service_principal_over_https(tls_emulator: tuple[ArmEmulator, Path]) -> None:
    emu, cert = tls_emulator
    emu.reset()
    with AzureProvider(principal(emu, cert)) as p:
        exercise_contract(p, VM, "no-such-vm")
    assert ("POST", f"/{TENANT}/oauth2/v2.0/token") in emu.requests
    assert emu.url.startswith("https://")


def test_wrong_client_secret_is_auth_failed(tls_emulator: tuple[ArmEmulator, Path]) -> None:
    emu, cert = tls_emulator
    emu.reset()
    with (AzureProvider(principal(emu, cert, client_secret="wrong-s3cr3t")) as p,
          pytest.raises(AuthFailed, match="AADSTS7000215") as err):
        p.create(VM, "x", tags=TAGS)
    assert "wrong-s3cr3t" not in str(err.value)
    assert not [r for r in emu.requests if "Microsoft.Compute" in r[1]]  # no token, no ARM call


def test_untrusted_certificate_is_unreachable(tls_emulator: tuple[ArmEmulator, Path]) -> None:
    emu, _ = tls_emulator
    with AzureProvider({"subscription_id": SUB, "resource_group": RG, "base_url": emu.url, "retries": 0},
                       credential=StaticToken(TOKEN)) as p, pytest.raises(Unreachable):
        p.list(VM)


def test_plain_http_authority_and_missing_ca_bundle_are_refused(tmp_path: Path) -> None:
    base = {"subscription_id": SUB, "resource_group": RG, "tenant_id": TENANT, "client_id": CLIENT_ID,
            "client_secret": "s3cr3t-value"}
    for bad in ({**base, "authority": "http://login.example"}, {**base, "ca_bundle": str(tmp_path / "none.pem")}):
        with pytest.raises(ProviderConfigError) as err:
            AzureProvider(bad)
        assert "s3cr3t-value" not in str(err.value)


def test_agent_toml_settings_parallel_snapshots_and_tags(tls_emulator: tuple[ArmEmulator, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """agent.toml (client_secret_env, ca_bundle, authority...) -> config -> snapshots.take over https."""
    from tests.providers.via_agent import check_tags_round_trip, take_through_agent

    emu, cert = tls_emulator
    emu.reset()
    monkeypatch.setenv("BA_AZURE_SECRET", CLIENT_SECRET)
    table = (f'type = "azure"\nsubscription_id = "{SUB}"\nresource_group = "{RG}"\nbase_url = "{emu.url}"\n'
             f'authority = "{emu.url}"\ninstance_discovery = false\nca_bundle = "{cert}"\n'
             f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT_ID}"\nclient_secret_env = "BA_AZURE_SECRET"\n'
             f'incremental = true\ntimeout = 20\nretries = 0\n')
    result = take_through_agent(tmp_path, table, [VM, OTHER_VM])
    try:
        check_tags_round_trip(result)
    finally:
        result.env.close()


def test_an_endpoint_answering_html_is_unreachable_not_a_raw_decode_error() -> None:
    """A proxy's login page (200, HTML) at base_url: a typed error, not json's JSONDecodeError."""
    from tests.peers.not_an_api import html_server

    with html_server(200) as url, AzureProvider(settings_at(url), credential=StaticToken(TOKEN)) as p:
        sid = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/snapshots/x-os"
        for call in (lambda: p.list(VM), lambda: p.get(sid), lambda: p.create(VM, "x"), lambda: p.delete(sid)):
            with pytest.raises(Unreachable, match="not Azure Resource Manager"):
                call()


def settings_at(url: str) -> dict[str, Any]:
    return {"subscription_id": SUB, "resource_group": RG, "base_url": url, "allow_http": True,
            "timeout": 5, "retries": 0}


def test_a_snapshot_of_another_subscription_is_not_read_as_gone(provider: AzureProvider, arm: ArmEmulator) -> None:
    """The agent forgets a snapshot whose get() says NotFound: a provider whose subscription_id
    was changed (or mistyped) must say so, not report the snapshot deleted."""
    ref = provider.create(VM, "kept", tags=TAGS)
    other = "00000000-0000-0000-0000-0000000000b2"
    with AzureProvider(settings(arm, subscription_id=other), credential=StaticToken(TOKEN)) as p:
        for call in (lambda: p.get(ref.id), lambda: p.delete(ref.id), lambda: p.revert(ref.id)):
            with pytest.raises(ProviderConfigError, match=f"subscription {SUB}"):
                call()
    assert provider.get(ref.id).id == ref.id
