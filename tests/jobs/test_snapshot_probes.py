"""A live plan asks about the snapshots that can matter: newest first per node, until one
exists, bounded and in parallel, and says which it did not ask about."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from backup_agent.catalog import Kind, RestorePoint
from backup_agent.jobs import snapshot_probes
from backup_agent.jobs.snapshot_probes import probe_newest

T0 = datetime(2026, 11, 26, tzinfo=UTC)


def snap(node: str, hours: int) -> RestorePoint:
    return RestorePoint(id=f"s-{node}-{hours}", kind=Kind.SNAPSHOT, deployment="prod",
                        taken_at=T0 - timedelta(hours=hours), node=node, provider="hv",
                        data={"provider_id": f"{node}-{hours}"})


def test_the_newest_that_exists_ends_a_nodes_probes() -> None:
    points = [snap("mgr01", h) for h in range(100)] + [snap("cn1", h) for h in range(5)]
    gone = {"s-mgr01-0"}  # the newest of mgr01 was deleted at the provider
    asked: list[str] = []

    def probe(rp: RestorePoint) -> bool:
        asked.append(rp.id)
        return rp.id not in gone

    found, unchecked = probe_newest(points, probe)
    assert found == {"s-mgr01-0": False, "s-mgr01-1": True, "s-cn1-0": True}
    assert sorted(asked) == sorted(found)
    assert unchecked is not None and unchecked["not_checked"] == 102
    assert unchecked["checked"] == 3 and "s-mgr01-2" in unchecked["not_checked_ids"]


def test_probes_are_bounded_and_parallel() -> None:
    points = [snap(f"cn{n}", h) for n in range(100) for h in range(3)]
    running, peak, lock = [0], [0], threading.Lock()

    def probe(rp: RestorePoint) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    found, unchecked = probe_newest(points, probe)
    assert len(found) == snapshot_probes.MAX_PROBES
    assert 1 < peak[0] <= snapshot_probes.PARALLEL
    assert unchecked is not None and unchecked["not_checked"] == 300 - snapshot_probes.MAX_PROBES


def test_nothing_unchecked_says_nothing() -> None:
    found, unchecked = probe_newest([snap("mgr01", 0)], lambda rp: True)
    assert found == {"s-mgr01-0": True} and unchecked is None
