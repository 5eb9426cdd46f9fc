"""Conferencing Node health as real nodes report it (issue 8, defect 6).

Without ``sync_status`` (older releases) every node showed "unknown"; ``last_updated`` is no
heartbeat; alarms name ``connectivity_lost`` and give the node's IPv4 address. The fixtures
below are written from the facts in shared/infinity-api.md ("Real answers"), not copied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_agent.jobs.node_health import judge
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, Runner, write_config

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
# A v24 node's status objects: no sync_status, last_reported, a build in the version,
# last_updated a day older than the contact, no address.
V24_STATUS = [
    {"id": 1, "name": "cn-osl-1", "node_type": "CONFERENCING", "system_location": "Oslo",
     "version": "24 (55691.0.0)", "deploy_status": "deploy_succeeded",
     "last_attempted_contact": "2026-11-26T09:59:41.118201", "last_reported": "2026-11-26T09:59:41",
     "last_updated": "2026-11-25T07:12:09.000000", "maintenance_mode": False,
     "upgrade_status": "IDLE", "hypervisor": "VMware", "configuration_id": 1},
    {"id": 2, "name": "cn-osl-2", "node_type": "CONFERENCING", "system_location": "Oslo",
     "version": "24 (55691.0.0)", "deploy_status": "deploy_succeeded",
     "last_attempted_contact": "2026-11-26T06:30:02.000000", "last_reported": "2026-11-26T06:30:02",
     "last_updated": "2026-11-25T07:12:09.000000", "maintenance_mode": False,
     "upgrade_status": "IDLE", "hypervisor": "VMware", "configuration_id": 2},
]
CONFIGS = [{"id": 1, "name": "cn-osl-1", "address": "10.44.0.11"},
           {"id": 2, "name": "cn-osl-2", "address": "10.44.0.12"}]
ALARMS = [{"id": 7, "identifier": 2002, "instance": "10.44.0.10", "level": "error",
           "name": "connectivity_lost", "node": "10.44.0.12", "acknowledged": False,
           "details": "Lost connectivity", "time_raised": "2026-11-26T06:31:00.000000",
           "resource_uri": "/api/admin/status/v1/alarm/7/"}]


def test_older_release_shapes_judged_from_contact_and_alarms_by_address() -> None:
    health = judge(V24_STATUS, CONFIGS, ALARMS, None, NOW)
    assert health["cn-osl-1"].status == "up", health["cn-osl-1"]
    lost = health["cn-osl-2"]
    assert lost.status == "unknown" and "connectivity_lost" in lost.why
    assert lost.out_of_contact_since == datetime(2026, 11, 26, 6, 31, tzinfo=UTC)


def test_a_status_event_gives_the_start_and_a_stale_contact_counts_without_an_alarm() -> None:
    events = [{"event_type": "workervm_added", "state": "running", "workervm_address": "10.44.0.12",
               "time_changed": "2026-10-01T00:00:00", "workervm_configuration_name": "cn-osl-2"},
              {"event_type": "workervm_state_changed", "state": "unreachable",
               "workervm_address": "10.44.0.12", "time_changed": "2026-11-26T06:30:05"}]
    health = judge(V24_STATUS, CONFIGS, [], events, NOW)
    assert health["cn-osl-2"].status == "unknown" and "no contact for" in health["cn-osl-2"].why
    assert health["cn-osl-2"].out_of_contact_since == datetime(2026, 11, 26, 6, 30, 5, tzinfo=UTC)
    assert health["cn-osl-1"].status == "up"


def test_deploy_status_and_sync_alarms_are_read() -> None:
    failing = [dict(V24_STATUS[0], deploy_status="deploy_failed")]
    assert judge(failing, CONFIGS, [], None, NOW)["cn-osl-1"].why == "deploy_status deploy_failed"
    sync = [dict(ALARMS[0], name="confuration_sync_failure", node="10.44.0.11")]
    assert "sync" in judge(V24_STATUS[:1], CONFIGS, sync, None, NOW)["cn-osl-1"].why


@pytest.fixture
def old_sim() -> Iterator[Simulator]:
    with Simulator(SimOptions(rooms=10, conferencing_nodes=3, password=PASSWORD,
                              release="v24")) as s:
        yield s


def test_nodes_of_an_older_release_are_up_not_unknown(agent: Runner, old_sim: Simulator,
                                                      tmp_path: Path) -> None:
    cfg = write_config(tmp_path, old_sim.url)
    code, out, err = agent("--config", str(cfg), "evidence")
    assert code == 0, err
    ev = json.loads(out)
    assert [n["status"] for n in ev["conferencing_nodes"]] == ["up", "up", "up"], ev
    assert ev["software_version"] == "24 (55691.0.0)"
    code, out, err = agent("--config", str(cfg), "status", "--json")
    assert code == 10, err  # degraded: no config backup yet, not the nodes
    [status] = json.loads(out)
    assert status["management_node"] == "up" and {n["status"] for n in status["nodes"]} == {"up"}


def test_a_node_out_of_contact_says_since_when_and_its_alarm_names_it(
        agent: Runner, sim: Simulator, cfg: Path) -> None:
    node = sim.state.worker_status()[0]["name"]
    lost = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    sim.state.set_node_down(node, now=lost)
    code, out, err = agent("--config", str(cfg), "evidence")
    assert code == 0, err
    ev = json.loads(out)
    [mine] = [n for n in ev["conferencing_nodes"] if n["name"] == node]
    assert mine["status"] == "unknown" and "connectivity_lost" in mine["why"]
    assert mine["out_of_contact_since"] == lost.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [(a["name"], a["node"]) for a in ev["alarms"]] == [("connectivity_lost", node)]
    assert all(n["status"] == "up" for n in ev["conferencing_nodes"] if n["name"] != node)


def test_the_autonomy_clock_starts_when_the_nodes_lost_contact_not_at_the_probe(
        agent: Runner, sim: Simulator, cfg: Path) -> None:
    """The Management Node still answers but is declared failed, and every Conferencing Node
    lost contact with it 5 hours ago: they run on their own since then, not since the probe."""
    lost = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    for i, w in enumerate(sim.state.worker_status()):
        sim.state.set_node_down(w["name"], now=lost + timedelta(minutes=i))
    code, out, err = agent("--config", str(cfg), "evidence", "--failed", "management")
    assert code == 0, err
    assert json.loads(out)["management_node"]["down_since"] == lost.strftime("%Y-%m-%dT%H:%M:%SZ")
