# ruff: noqa: F811 - fixtures are imported from tests/peers/hyperv/fixtures.py, then requested by name
"""The Hyper-V provider against Debian's sshd running a fake ``powershell`` on loopback.

The contract, the injection proof and timeouts go through sshd and the fake as a program;
the many small cases go through paramiko's in-process server, which runs the same fake in
process (an SSH round trip there costs milliseconds, not a Python start-up).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from providers.base import (
    MANAGED_TAG,
    AmbiguousVM,
    AuthFailed,
    InUse,
    NotFound,
    ProviderConfigError,
    ProviderTimeout,
    TaskFailed,
    UnsupportedOption,
)
from providers.hyperv import HyperVProvider
from tests.peers.hyperv import peer
from tests.peers.hyperv.fixtures import (  # noqa: F401 - fixtures
    CONF,
    MGR,
    OLD,
    default_vms,
    fast_host,
    host,
    make_fast,
    make_provider,
    paramiko_peer,
    sshd_peer,
)
from tests.providers.contract import exercise_contract

Make = Callable[..., HyperVProvider]
pytestmark = pytest.mark.peer("sshd")


def vm_type(p: peer.Peer, vm_id: str) -> str:
    return next(str(v["CheckpointType"]) for v in peer.read_state(p.state)["vms"] if v["Id"] == vm_id)


def snapshots(p: peer.Peer) -> list[dict[str, Any]]:
    return list(peer.read_state(p.state)["snapshots"])


def test_contract(make_provider: Make) -> None:
    exercise_contract(make_provider(), "pexip-mgr01", "no-such-vm")


def test_revert_restores_that_checkpoint_and_list_spans_vms(make_fast: Make, fast_host: peer.Peer) -> None:
    prov = make_fast()
    first = prov.create("pexip-mgr01", "one", tags={MANAGED_TAG: "true"})
    second = prov.create("pexip-mgr01", "two")
    other = prov.create(CONF, "conf")  # a VM Id works as well as a name
    assert other.vm == "pexip-conf01"
    prov.revert(first.id)
    vm = next(v for v in peer.read_state(fast_host.state)["vms"] if v["Id"] == MGR)
    assert vm["restored"] == [first.id]
    assert {s.id for s in prov.list("pexip-mgr01")} == {first.id, second.id}
    assert {s.id for s in prov.list()} == {first.id, second.id, other.id}
    assert [s.id for s in prov.list(tags={MANAGED_TAG: "true"})] == [first.id]
    assert second.extra["parent_id"] == first.id


def test_production_checkpoint_by_default_and_vm_type_put_back(make_fast: Make, fast_host: peer.Peer) -> None:
    ref = make_fast().create("pexip-conf01", "pre-upgrade")
    made = snapshots(fast_host)
    assert [(s["Id"], s["CheckpointType"]) for s in made] == [(ref.id, "Production")]
    assert vm_type(fast_host, CONF) == "Standard", "the VM's own checkpoint type is restored"
    scripts = [e["script"] for e in peer.read_state(fast_host.state)["log"]]
    assert sum("Set-VM -VM $vm -CheckpointType 'Production'" in s for s in scripts) == 1


def test_no_set_vm_when_type_already_matches(make_fast: Make, fast_host: peer.Peer) -> None:
    make_fast().create("pexip-mgr01", "x")
    assert not any("Set-VM" in e["script"] for e in peer.read_state(fast_host.state)["log"])


@pytest.mark.parametrize("kind", ["Standard", "ProductionOnly", "production"])
def test_checkpoint_type_option(make_fast: Make, fast_host: peer.Peer, kind: str) -> None:
    make_fast().create("pexip-mgr01", "x", options={"checkpoint_type": kind})
    assert snapshots(fast_host)[0]["CheckpointType"].lower() == kind.lower()
    assert vm_type(fast_host, MGR) == "Production"


def test_checkpoint_type_setting(make_fast: Make, fast_host: peer.Peer) -> None:
    make_fast(checkpoint_type="Standard").create("pexip-mgr01", "x")
    assert snapshots(fast_host)[0]["CheckpointType"] == "Standard"


def test_production_only_failure_is_typed_and_type_put_back(make_fast: Make, fast_host: peer.Peer) -> None:
    with pytest.raises(TaskFailed, match="Production checkpoints cannot be created"):
        make_fast().create("legacy01", "x", options={"checkpoint_type": "ProductionOnly"})
    assert snapshots(fast_host) == []
    assert vm_type(fast_host, OLD) == "Standard"


def test_production_falls_back_to_standard_on_legacy_guest(make_fast: Make, fast_host: peer.Peer) -> None:
    ref = make_fast().create("legacy01", "x")
    assert ref.extra["snapshot_type"] == "0"  # Standard, as 5.1's ConvertTo-Json writes the enum


def test_bad_checkpoint_type_and_unknown_option(make_fast: Make) -> None:
    prov = make_fast()
    with pytest.raises(UnsupportedOption, match="Production, ProductionOnly, Standard"):
        prov.create("pexip-mgr01", "x", options={"checkpoint_type": "Crash"})
    with pytest.raises(UnsupportedOption, match="memory"):
        prov.create("pexip-mgr01", "x", options={"memory": True})
    with pytest.raises(UnsupportedOption):
        make_fast(checkpoint_type="Whatever")


def test_checkpoints_disabled_on_vm_refused(make_fast: Make, fast_host: peer.Peer) -> None:
    vms = default_vms()
    vms[0]["CheckpointType"] = "Disabled"
    peer.write_state(fast_host.state, vms)
    with pytest.raises(UnsupportedOption, match="disabled"):
        make_fast().create("pexip-mgr01", "x")
    assert snapshots(fast_host) == []


NASTY = "pexip'; Remove-VM -Name * ; $(Stop-Computer) `whoami` \u2019x\u2018 \"q\" $env:PATH [1]*?"


def test_vm_name_reaches_powershell_intact(make_provider: Make, host: peer.Peer) -> None:
    vms = [*default_vms(), {"Name": NASTY, "Id": "22222222-0000-4000-8000-000000000009",
                            "CheckpointType": "Production", "State": "Running"}]
    peer.write_state(host.state, vms)
    prov = make_provider()
    tags = {MANAGED_TAG: "true", "note": "it's $HOME; `x` & y=z [ok]"}
    ref = prov.create(NASTY, "before 'patch' $x", tags=tags)
    assert (ref.vm, ref.name, dict(ref.tags)) == (NASTY, "before 'patch' $x", tags)
    state = peer.read_state(host.state)
    assert len(state["vms"]) == 4, "nothing was removed"
    assert [s["VMName"] for s in state["snapshots"]] == [NASTY]
    assert [s.id for s in prov.list(NASTY)] == [ref.id]
    assert prov.get(ref.id).tags == tags
    # The shell on the host only ever sees the program name, fixed switches and base64.
    for entry in state["log"]:
        assert entry["argv"] == ["-NoProfile", "-NonInteractive", "-EncodedCommand"]
    sent = [e["script"] for e in state["log"]]
    assert any(NASTY.replace("'", "''").replace("\u2019", "\u2019\u2019").replace("\u2018", "\u2018\u2018")
               in s for s in sent)


def test_wildcard_characters_match_only_that_name(make_fast: Make, fast_host: peer.Peer) -> None:
    with pytest.raises(NotFound, match=r"no VM named 'pexip-\*'"):
        make_fast().create("pexip-*", "x")
    assert snapshots(fast_host) == []


def test_missing_vm_and_snapshot(make_fast: Make) -> None:
    prov = make_fast()
    with pytest.raises(NotFound, match="no VM named 'ghost'"):
        prov.create("ghost", "x")
    with pytest.raises(NotFound):
        prov.list("ghost")
    assert prov.vm_exists("ghost") is False
    assert prov.vm_exists("pexip-mgr01") is True
    gone = "33333333-0000-4000-8000-000000000000"
    with pytest.raises(NotFound, match="unable to find a checkpoint"):
        prov.get(gone)
    with pytest.raises(NotFound):
        prov.revert(gone)
    with pytest.raises(NotFound, match="not a Hyper-V checkpoint id"):
        prov.delete("pre-upgrade")


def test_two_vms_of_one_name_refused(make_fast: Make, fast_host: peer.Peer) -> None:
    vms = default_vms()
    vms.append(dict(vms[0], Id="11111111-0000-4000-8000-0000000000ff"))
    peer.write_state(fast_host.state, vms)
    prov = make_fast()
    with pytest.raises(AmbiguousVM, match="use the VM Id"):
        prov.create("pexip-mgr01", "x")
    with pytest.raises(AmbiguousVM):
        prov.list("pexip-mgr01")
    assert prov.create(MGR, "x").extra["vm_id"] == MGR


@pytest.mark.parametrize(("category", "error"), [
    ("InvalidOperation", TaskFailed), ("PermissionDenied", AuthFailed), ("ObjectNotFound", NotFound),
    ("OperationTimeout", ProviderTimeout), ("ResourceBusy", InUse),
])
def test_failing_command_is_typed(make_fast: Make, fast_host: peer.Peer, category: str,
                                  error: type[Exception]) -> None:
    prov = make_fast()
    ref = prov.create("pexip-mgr01", "x")
    peer.set_fault(fast_host.state, "Remove-VMSnapshot", {"error": {"category": category, "message": "boom on host"}})
    with pytest.raises(error, match=f"removing checkpoint {ref.id}: boom on host"):
        prov.delete(ref.id)
    assert [s["Id"] for s in snapshots(fast_host)] == [ref.id]


def test_missing_hyperv_module_and_missing_powershell(make_provider: Make, host: peer.Peer) -> None:
    prov = make_provider()
    peer.set_fault(host.state, "Get-VMSnapshot", {"error": {
        "category": "ObjectNotFound", "id": "CommandNotFoundException",
        "message": "The term 'Get-VMSnapshot' is not recognized"}})
    with pytest.raises(TaskFailed, match="Hyper-V PowerShell module"):
        prov.get(MGR)
    with pytest.raises(ProviderConfigError, match="check the 'powershell' setting"):
        make_provider(powershell="no-such-powershell").list()
    with pytest.raises(ProviderConfigError, match="plain program name"):
        make_provider(powershell="powershell; rm -rf /").list()


def test_hanging_command_times_out(make_provider: Make, host: peer.Peer) -> None:
    ref = make_provider().create("pexip-mgr01", "x")
    peer.set_fault(host.state, "Get-VMSnapshot", {"hang": 30})
    start = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"reading checkpoint .* did not finish within 1 s"):
        make_provider(timeout=1).get(ref.id)
    assert time.monotonic() - start < 6
    peer.set_fault(host.state, "Get-VMSnapshot", None)  # waits for the hung fake to notice and go
    assert time.monotonic() - start < 15, "the fake ends when its SSH channel is closed"
    assert make_provider().get(ref.id).id == ref.id


def test_create_timeout_names_the_checkpoint(make_provider: Make, host: peer.Peer) -> None:
    peer.set_fault(host.state, "Checkpoint-VM", {"hang": 30})
    with pytest.raises(ProviderTimeout, match=r"the checkpoint 'x \[ba:backup-agent=true\]' may still appear"):
        make_provider().create("pexip-conf01", "x", tags={MANAGED_TAG: "true"}, timeout=4)
    peer.set_fault(host.state, "Checkpoint-VM", None)
    assert vm_type(host, CONF) == "Standard", "the VM's type is put back even after a timeout"
