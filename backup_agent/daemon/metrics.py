"""Prometheus metrics of the daemon. The names and labels are a contract (README).

Gauges whose value depends on "now" (the autonomy clock, the oldest snapshot's age) are
computed when scraped, from the deadline and times recorded, so they are never stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from backup_agent.catalog import RestorePoint, Run

KINDS = ("config-backup", "room-export", "inventory", "snapshot")
disable_created_metrics()  # *_created series double the exposition and no rule here uses them


class _Clocked(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.m.clock()
        autonomy = GaugeMetricFamily(
            "backup_agent_autonomy_remaining_seconds",
            "Seconds until last contact + 14 days, while the Management Node is unreachable",
            labels=["deployment"])
        oldest = GaugeMetricFamily(
            "backup_agent_oldest_agent_snapshot_age_seconds",
            "Age of the oldest agent snapshot in the catalog", labels=["deployment"])
        with self.m.lock:
            for dep, deadline in sorted(self.m.deadlines.items()):
                autonomy.add_metric([dep], (deadline - now).total_seconds())
            for dep, taken in sorted(self.m.oldest_snapshot.items()):
                oldest.add_metric([dep], max(0.0, (now - taken).total_seconds()))
        yield autonomy
        yield oldest


class Metrics:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.deadlines: dict[str, datetime] = {}
        self.oldest_snapshot: dict[str, datetime] = {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter("backup_agent_runs", "Runs by outcome", ["deployment", "job", "outcome"],
                            registry=r)
        self.last_success = Gauge("backup_agent_last_success_timestamp_seconds",
                                  "When the job last completed (Unix time)", ["deployment", "job"],
                                  registry=r)
        self.duration = Gauge("backup_agent_last_run_duration_seconds", "Duration of the last run",
                              ["deployment", "job"], registry=r)
        self.points = Gauge("backup_agent_restore_points", "Live restore points",
                            ["deployment", "kind"], registry=r)
        self.bytes = Gauge("backup_agent_stored_bytes", "Bytes in the store", ["deployment", "kind"],
                           registry=r)
        self.up = Gauge("backup_agent_management_node_up", "1 when the last probe was answered",
                        ["deployment"], registry=r)
        self.checkpoints_past_age = Gauge(
            "backup_agent_checkpoints_past_age",
            "Unreleased checkpoints whose snapshots are past checkpoint_max_age_days (audit)",
            ["deployment"], registry=r)
        self.alerts = Counter("backup_agent_alerts_sent", "Alert notifications by sink and outcome",
                              ["sink", "outcome"], registry=r)
        r.register(_Clocked(self))

    def observe(self, run: Run) -> None:
        """Count a finished run; its duration and, when it completed, its success time."""
        outcome = run.outcome or "failed"
        self.runs.labels(run.deployment, run.job, outcome).inc()
        if run.finished_at:
            self.duration.labels(run.deployment, run.job).set(
                (run.finished_at - run.started_at).total_seconds())
            if outcome == "completed":
                self.last_success.labels(run.deployment, run.job).set(run.finished_at.timestamp())
        if run.job == "audit" and "checkpoints_past_age" in run.summary:
            self.checkpoints_past_age.labels(run.deployment).set(run.summary["checkpoints_past_age"])

    def catalog(self, deployment: str, points: Sequence[RestorePoint]) -> None:
        for kind in KINDS:
            of_kind = [rp for rp in points if rp.kind == kind]
            self.points.labels(deployment, kind).set(len(of_kind))
            self.bytes.labels(deployment, kind).set(sum(f.size for rp in of_kind for f in rp.files))
        snaps = [rp.taken_at for rp in points if rp.kind == "snapshot"]
        with self.lock:
            if snaps:
                self.oldest_snapshot[deployment] = min(snaps)
            else:
                self.oldest_snapshot.pop(deployment, None)

    def contact(self, deployment: str, up: bool, deadline: datetime | None) -> None:
        """The probe's answer; ``deadline`` (last contact + 14 days) only while unreachable."""
        self.up.labels(deployment).set(1 if up else 0)
        with self.lock:
            if deadline is None:
                self.deadlines.pop(deployment, None)
            else:
                self.deadlines[deployment] = deadline

    def sent(self, sink: str, ok: bool) -> None:
        self.alerts.labels(sink, "sent" if ok else "failed").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
