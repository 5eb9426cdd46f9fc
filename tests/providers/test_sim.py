"""The sim provider against a running simulator over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backup_agent.sim import SimOptions, Simulator
from providers.base import (
    MANAGED_TAG,
    AuthFailed,
    NotFound,
    ProviderConfigError,
    ProviderTimeout,
    SnapshotState,
    TaskFailed,
    Unreachable,
    UnsupportedOption,
)
from providers.sim import SimProvider
from tests.providers.contract import exercise_contract


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimOptions(rooms=40, conferencing_nodes=2)).start()
    yield s
    s.stop()


@pytest.fixture
def provider(sim: Simulator) -> Iterator[SimProvider]:
    p = SimProvider({"type": "sim", "url": sim.url, "username": "admin", "password": "sim-admin"})
    yield p
    p.close()


def test_contract_on_the_management_vm(provider: SimProvider) -> None:
    exercise_contract(provider, "mgr01", "no-such-vm")


def test_contract_on_a_conferencing_node(provider: SimProvider, sim: Simulator) -> None:
    node = sim.hypervisor.vms()[1]["id"]
    exercise_contract(provider, node, "cn-nowhere-9")


def test_revert_of_the_management_vm_restores_its_configuration(provider: SimProvider, sim: Simulator) -> None:
    before = sim.state.config.dump()
    ref = provider.create("mgr01", "pre-upgrade", tags={MANAGED_TAG: "true"})
    assert ref.extra["version"] == "38.1"
    sim.state.delete_rooms(count=15)
    sim.state.set_management_down("close")
    assert sim.state.room_count == 25
    provider.revert(ref.id)
    assert sim.state.room_count == 40 and sim.state.config.dump() == before
    assert sim.state.management_up


def test_revert_of_a_conferencing_node_brings_it_back(provider: SimProvider, sim: Simulator) -> None:
    node = sim.hypervisor.vms()[1]["id"]
    ref = provider.create(node, "before")
    sim.state.set_node_down(node)
    provider.revert(ref.id)
    assert node not in sim.state.nodes_down


def test_list_filters_by_vm_and_tags(provider: SimProvider, sim: Simulator) -> None:
    node = sim.hypervisor.vms()[1]["id"]
    a = provider.create("mgr01", "a", tags={MANAGED_TAG: "true", "reason": "x"})
    b = provider.create(node, "b", tags={MANAGED_TAG: "true"})
    c = provider.create(node, "c", tags={"other": "1"})
    assert {s.id for s in provider.list()} == {a.id, b.id, c.id}
    assert {s.id for s in provider.list(node)} == {b.id, c.id}
    assert {s.id for s in provider.list(tags={MANAGED_TAG: "true"})} == {a.id, b.id}
    assert provider.vm_exists(node) and not provider.vm_exists("ghost")
    with pytest.raises(NotFound):
        provider.list("ghost")


def test_snapshots_take_the_simulated_time_and_run_in_parallel(sim: Simulator, provider: SimProvider) -> None:
    sim.opts.snapshot_seconds = 0.5
    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        refs = list(pool.map(lambda i: provider.create("mgr01", f"s{i}"), range(4)))
    elapsed = time.perf_counter() - start
    assert len({r.id for r in refs}) == 4
    assert 0.5 <= elapsed < 1.5


def test_timeout_is_provider_timeout_and_the_half_made_snapshot_is_deleted(
        sim: Simulator, provider: SimProvider) -> None:
    sim.opts.snapshot_seconds = 2
    with pytest.raises(ProviderTimeout) as exc:
        provider.create("mgr01", "slow", timeout=0.3)
    assert "snapshot-1" in str(exc.value)
    assert provider.list() == []


def test_failed_task_is_task_failed_and_leaves_nothing(sim: Simulator, provider: SimProvider) -> None:
    sim.hypervisor.fail_next(1, "the datastore is full")
    with pytest.raises(TaskFailed) as exc:
        provider.create("mgr01", "doomed")
    assert "datastore is full" in str(exc.value) and "snapshot-1" in str(exc.value)
    assert provider.list() == []
    assert provider.create("mgr01", "fine").state is SnapshotState.AVAILABLE


def test_create_without_waiting(sim: Simulator, provider: SimProvider) -> None:
    sim.opts.snapshot_seconds = 0.3
    ref = provider.create("mgr01", "async", wait=False)
    assert ref.state is SnapshotState.CREATING
    with pytest.raises(TaskFailed):
        provider.revert(ref.id)  # not available yet: the simulator answers 409
    deadline = time.monotonic() + 5
    while provider.get(ref.id).state is SnapshotState.CREATING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert provider.get(ref.id).state is SnapshotState.AVAILABLE


def test_wrong_password_is_auth_failed_without_the_password(sim: Simulator) -> None:
    bad = SimProvider({"url": sim.url, "password": "Wrong-Pass-1"})
    with pytest.raises(AuthFailed) as exc:
        bad.list()
    assert "Wrong-Pass-1" not in str(exc.value)


def test_unreachable(sim: Simulator) -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable):
        SimProvider({"url": f"http://127.0.0.1:{port}", "password": "x", "timeout": 5}).list()


@pytest.mark.parametrize("settings", [{"password": "x"}, {"url": "ftp://x", "password": "x"},
                                      {"url": "http://127.0.0.1:1"},
                                      {"url": "http://127.0.0.1:1", "password": "x", "region": "eu"}])
def test_bad_settings(settings: dict) -> None:
    with pytest.raises(ProviderConfigError):
        SimProvider(settings)


def test_options_are_refused(provider: SimProvider) -> None:
    with pytest.raises(UnsupportedOption):
        provider.create("mgr01", "x", options={"memory": True})


def test_delete_and_revert_of_a_missing_snapshot(provider: SimProvider) -> None:
    with pytest.raises(NotFound):
        provider.revert("snapshot-999")
    with pytest.raises(NotFound):
        provider.delete("snapshot-999")


def test_agent_toml_settings_parallel_snapshots_and_tags(sim: Simulator, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """agent.toml -> config -> snapshots.take on every VM at once through one provider."""
    from tests.providers.via_agent import check_tags_round_trip, take_through_agent

    monkeypatch.setenv("BA_SIM_PASSWORD", "sim-admin")
    table = f'type = "sim"\nurl = "{sim.url}"\nusername = "admin"\npassword_env = "BA_SIM_PASSWORD"\ntimeout = 30\n'
    result = take_through_agent(tmp_path, table, [vm["id"] for vm in sim.hypervisor.vms()])
    try:
        check_tags_round_trip(result)
    finally:
        result.env.close()
