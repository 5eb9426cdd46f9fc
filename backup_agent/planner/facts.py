"""What the path builders need to know, derived once from the evidence.

Indexing restore points here (one pass, by kind and node) keeps planning linear in the size of
the evidence: 500 nodes and 10,000 restore points plan in milliseconds.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from backup_agent.planner.evidence import (
    ConferencingNode,
    Evidence,
    RestorePoint,
    effective_status,
    format_time,
    management_down,
)
from backup_agent.timefmt import human

CLOUD_PLATFORMS = ("aws", "azure", "gcp")

# Stated defaults, used when no drill of that kind was measured (minutes).
DEFAULT_MINUTES = {
    "revert-snapshot": 20,  # revert, power on, wait for the admin UI
    "restore-backup": 90,  # deploy a fresh node (~45), backup_restore and reboot (~30), checks
    "redeploy-node": 30,  # deployment file, deploy the VM, first contact
    "import-rooms": 5,  # plus one minute per ROOMS_PER_MINUTE rooms
    "rebuild": 480,  # re-entering system configuration by hand; nodes and rooms added on top
}
ROOMS_PER_MINUTE = 200
# Fetching a restore point from its off-site copy: a conservative WAN rate, 10 MB/s.
DOWNLOAD_BYTES_PER_MINUTE = 600_000_000
CLOUD_IMAGE_MINUTES = 15  # a cloud Conferencing Node also needs its disk image in place
UPGRADE_MINUTES = 60  # upgrading a Management Node to match the Conferencing Nodes' version


def human_time(moment: datetime) -> str:
    """``2026-11-19 01:02 UTC``: the form ``loses`` and the runbook use."""
    return human(moment)


def newest(points: list[RestorePoint]) -> RestorePoint | None:
    """The newest point; ties broken by id so the choice is deterministic."""
    return max(points, key=lambda p: (p.taken_at, p.id), default=None)


def name_list(names: list[str], limit: int = 8) -> str:
    """``a, b, c`` or ``a, b, ... and 12 more`` so a 500-node site stays readable."""
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


@dataclass
class Facts:
    """Derived, read-only view of one evidence document."""

    ev: Evidence
    mn_lost: bool  # down, declared failed, or unknown (planned for as down)
    mn_unconfirmed: bool
    reference: datetime  # when changes stopped being recorded: down_since, else now
    mn_snapshots: list[RestorePoint]
    cn_snapshots: list[RestorePoint]
    backups: list[RestorePoint]
    export: RestorePoint | None
    failed_cns: list[ConferencingNode]
    unknown_cns: list[ConferencingNode]
    running_cns: list[ConferencingNode]
    drill_minutes: dict[str, float]

    @property
    def version(self) -> str:
        """The running software version."""
        return self.ev.software_version

    def minutes(self, kind: str) -> int:
        """Measured median for ``kind`` when drills exist, else the stated default."""
        measured = self.drill_minutes.get(kind)
        return math.ceil(measured) if measured is not None else DEFAULT_MINUTES[kind]

    def import_minutes(self, export: RestorePoint) -> int:
        """Time to re-create rooms from ``export``."""
        if "import-rooms" in self.drill_minutes:
            return self.minutes("import-rooms")
        return DEFAULT_MINUTES["import-rooms"] + math.ceil((export.rooms or 0) / ROOMS_PER_MINUTE)

    def download_minutes(self, point: RestorePoint) -> int:
        """Time to fetch ``point`` from its off-site copy first (0 when its bytes are local)."""
        if point.copy_store is None:
            return 0
        return 1 + math.ceil((point.copy_bytes or 0) / DOWNLOAD_BYTES_PER_MINUTE)

    def newer_export(self, than: datetime) -> RestorePoint | None:
        """The newest room export when it is newer than ``than``, else ``None``."""
        return self.export if self.export and self.export.taken_at > than else None

    def command(self, number: int) -> str:
        """The CLI command that executes path ``number``'s automated steps."""
        return f"{self._declaration} --path {number}"

    @cached_property
    def _declaration(self) -> str:
        """The command without its path: the same for every path, so made once (remade per
        path, 2,000 failed nodes cost 2,000 joins of 2,000 names)."""
        failed = "".join(f" --failed {name}" for name in self.ev.failed)
        since = self.ev.management_node.down_since
        # The same declaration as the plan's, so that restore recomputes this very plan: the
        # down_since too when only the probe found the node down (a --down-since without
        # --failed, or the last contact), or restore cuts the restore points elsewhere.
        down = f" --down-since {format_time(since)}" if since else ""
        return f"backup-agent restore --deployment {self.ev.deployment}{failed}{down}"

    @cached_property
    def failed_cn_order(self) -> tuple[dict[str, int], str]:
        """The failed Conferencing Nodes' places in name order, and their ``--failed`` flags in
        that order: what the plan re-made with the Management Node up declares."""
        names = sorted(n.name for n in self.failed_cns)
        return {n: i for i, n in enumerate(names)}, "".join(f" --failed {n}" for n in names)


def derive(ev: Evidence) -> Facts:
    """Index the evidence once for the path builders."""
    mn = ev.management_node
    cn_names = {n.name for n in ev.conferencing_nodes}
    mn_snaps, cn_snaps, backups, exports = [], [], [], []
    for point in ev.restore_points:
        if point.kind == "config-backup":
            backups.append(point)
        elif point.kind == "room-export":
            exports.append(point)
        elif point.node in cn_names:
            cn_snaps.append(point)
        elif point.node is None or point.node == mn.name:
            mn_snaps.append(point)
        # a snapshot of a VM that is in neither list belongs to nothing we plan for
    status = {n.name: effective_status(ev, n.name, n.status) for n in ev.conferencing_nodes}
    by_kind: dict[str, list[float]] = {}
    for drill in ev.drills:
        by_kind.setdefault(drill.kind, []).append(drill.minutes)
    declared = management_down(ev)
    return Facts(
        ev=ev,
        mn_lost=declared or mn.status == "unknown",
        mn_unconfirmed=not declared and mn.status == "unknown",
        reference=mn.down_since or ev.now,
        mn_snapshots=mn_snaps,
        cn_snapshots=cn_snaps,
        backups=backups,
        export=newest(exports),
        failed_cns=[n for n in ev.conferencing_nodes if status[n.name] == "down"],
        unknown_cns=[n for n in ev.conferencing_nodes if status[n.name] == "unknown"],
        running_cns=[n for n in ev.conferencing_nodes if status[n.name] == "up"],
        drill_minutes={k: statistics.median(v) for k, v in by_kind.items()},
    )
