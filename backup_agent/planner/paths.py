"""Restore paths: the records a plan is made of, and one builder per path kind.

A builder returns a :class:`Draft`: everything of a path except its number, which only the
ranking in :mod:`backup_agent.planner.plan` decides; the steps are rendered once the number
(and so the ``backup-agent restore --path N`` command) is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backup_agent.planner.evidence import ConferencingNode, RestorePoint
from backup_agent.planner.facts import (
    CLOUD_IMAGE_MINUTES,
    CLOUD_PLATFORMS,
    UPGRADE_MINUTES,
    Facts,
    human_time,
    name_list,
)
from backup_agent.planner.licences import relicense_detail
from backup_agent.planner.version import Version, build_note, same_release

SUPPORT_ADVICE = ("Pexip advises contacting Pexip support before rolling back a Management Node "
                  "to a VM snapshot")


# What ``backup-agent restore`` does for a step: automated actions are executed, manual ones
# are shown and confirmed. Naming the action here keeps the replay from parsing titles.
AUTOMATED_ACTIONS = ("check", "revert-snapshot", "restore-backup", "deployment-file",
                     "import-rooms")
MANUAL_ACTIONS = ("confirm-down", "call-support", "deploy-management", "upgrade", "verify",
                  "remove-node", "deploy-node", "reenter-config", "redeploy-nodes",
                  "rooms-by-hand", "relicense")


@dataclass(frozen=True)
class Step:
    """One step of a path; ``automated`` steps are run by ``backup-agent restore``.

    ``action`` names what the step does (one of ``AUTOMATED_ACTIONS`` or ``MANUAL_ACTIONS``)
    and ``ref`` what it acts on (a restore point id or a node name), so the replay maps steps
    to code without reading titles. Neither is in the plan JSON, whose keys are a contract.
    """

    title: str
    automated: bool
    detail: str
    action: str = "verify"
    ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The step as in the plan JSON."""
        return {"title": self.title, "automated": self.automated, "detail": self.detail}


@dataclass(frozen=True)
class RestorePath:
    """A ranked, numbered way back; ``number`` is its 1-based place in the plan."""

    number: int
    kind: str
    target: str
    restore_point: str | None
    ready: bool
    blockers: tuple[str, ...]
    loses: str
    estimated_minutes: int
    steps: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        """The path with exactly the keys of design.md's plan JSON."""
        return {
            "kind": self.kind, "target": self.target, "restore_point": self.restore_point,
            "ready": self.ready, "blockers": list(self.blockers), "loses": self.loses,
            "estimated_minutes": self.estimated_minutes,
            "steps": [s.to_dict() for s in self.steps],
        }


StepsFn = Callable[[str], list[Step]]


@dataclass
class Draft:
    """A path before ranking. ``lost_seconds`` is the data-loss measure the ranking uses."""

    kind: str
    target: str
    restore_point: str | None
    loses: str
    minutes: int
    risk: int
    lost_seconds: float
    steps: StepsFn
    blockers: list[str] = field(default_factory=list)
    needs_management: bool = False


# --- shared steps --------------------------------------------------------------------------

PLATFORM_NAMES = {"vmware": "VMware", "hyperv": "Hyper-V", "aws": "AWS", "azure": "Azure",
                  "gcp": "Google Cloud"}


def _platform(platform: str) -> str:
    """The platform as a sentence names it: "on other" read as a typo on a bridge call."""
    return PLATFORM_NAMES.get(platform, "its platform")


def _confirm_down(f: Facts) -> list[Step]:
    if not f.mn_unconfirmed:
        return []
    name = f.ev.management_node.name
    return [Step(f"Confirm {name} is really down", False,
                 f"{name}'s status is unconfirmed (unknown): check its console on "
                 f"{_platform(f.ev.management_node.platform)} before replacing it; two Management "
                 "Nodes must never run at once", "confirm-down")]


def _differs(point: RestorePoint, f: Facts) -> bool:
    """Whether ``point`` is of another release than the running one (an unreadable version
    counts as another unless it is the very same text)."""
    same = same_release(point.version, f.version, point.build)
    return point.version != f.version if same is None else not same


def _full(point: RestorePoint) -> str:
    """The point's version with its build, ``38.1 (81522.0.0)``, as the installer names it."""
    parsed = Version.parse(point.version, point.build)
    return str(parsed) if parsed else point.version or "?"


def _upgrade(f: Facts, point: RestorePoint) -> list[Step]:
    if not _differs(point, f):
        return []
    from_version = point.version
    return [Step(f"Upgrade the Management Node to {f.version}", False,
                 f"the Conferencing Nodes run {f.version} and the restored Management Node "
                 f"{from_version or 'an unknown version'}: upgrade it to {f.version} with the "
                 "upgrade package; nodes run mixed versions until then", "upgrade")]


def _relicense(f: Facts, what: str) -> Step:
    return Step("Re-license the Management Node", False, relicense_detail(f.ev.licences, what),
                "relicense")


def _reimport(f: Facts, after: RestorePoint, cmd: str) -> list[Step]:
    export = f.newer_export(after.taken_at)
    if export is None:
        return []
    return [Step("Re-import rooms from the newer room export", True,
                 f"re-creates rooms and aliases from room export {export.id} "
                 f"({human_time(export.taken_at)}) that are newer than {after.id}, skipping rooms "
                 f"that exist (`{cmd}`)", "import-rooms", export.id)]


def _verify_management(f: Facts) -> Step:
    return Step("Check the Conferencing Nodes are in contact", False,
                "in the admin UI, Status > Conferencing Nodes: every node in contact, versions "
                f"{f.version}; the autonomy clock stops", "verify")


def _version_flag(what: str, point: RestorePoint, f: Facts) -> str:
    if not _differs(point, f):
        note = build_note(point.version, f.version, point.build)
        return (f"; {what} {point.id} is {note} (same release): a note, restored as is"
                if note else "")
    return (f"; {what} {point.id} is version {point.version or 'unknown'}, the running version "
            f"is {f.version}: an upgrade to {f.version} follows")


def _export_note(f: Facts, after: RestorePoint) -> str:
    export = f.newer_export(after.taken_at)
    if export is None:
        return ""
    rooms = f"{export.rooms} rooms" if export.rooms is not None else "rooms"
    # The re-import skips rooms that exist, so only rooms missing after the restore come back.
    return (f"; rooms created up to {human_time(export.taken_at)} are in the newer room export "
            f"{export.id} ({rooms}) and are re-imported (later changes to rooms the restore "
            "brings back are not)")


def _fetch_note(point: RestorePoint) -> str:
    if point.copy_store is None:
        return ""
    return (f"; its local copy is gone: first fetched from off-site store {point.copy_store} "
            f"({point.copy_bytes or 0:,} bytes)")


def _lost_seconds(f: Facts, point: RestorePoint) -> float:
    return max((f.reference - point.taken_at).total_seconds(), 0.0)


# --- builders ------------------------------------------------------------------------------

def revert_snapshot(f: Facts, snap: RestorePoint) -> Draft:
    """Revert the Management Node's VM to ``snap`` through its provider."""
    mn = f.ev.management_node
    blockers = []
    if snap.provider is None:
        blockers.append(f"snapshot {snap.id} names no provider to revert it through")
    if snap.available is False:
        blockers.append(f"snapshot {snap.id} no longer exists at provider {snap.provider}")
    elif snap.available is None:
        blockers.append(f"nobody asked provider {snap.provider} whether snapshot {snap.id} still "
                        f"exists: run `backup-agent evidence --deployment {f.ev.deployment}` live")
    mismatch = _differs(snap, f)
    loses = (f"config changes since {human_time(snap.taken_at)}"
             + _version_flag("snapshot", snap, f) + _export_note(f, snap))
    owner = "" if snap.node else f"; the snapshot names no node, so it is taken to be {mn.name}'s"
    export = f.newer_export(snap.taken_at)

    def steps(cmd: str) -> list[Step]:
        return [
            *_confirm_down(f),
            Step("Call Pexip support", False,
                 f"{SUPPORT_ADVICE}; attach `backup-agent support-bundle --deployment "
                 f"{f.ev.deployment} --out bundle.tgz`", "call-support"),
            Step("Check the prerequisites", True,
                 f"`{cmd} --dry-run`: snapshot {snap.id} still exists at {snap.provider}{owner}; "
                 "changes nothing", "check"),
            Step(f"Revert {mn.name} to snapshot {snap.id}", True,
                 f"reverts the VM through provider {snap.provider} and powers it on (`{cmd}`)",
                 "revert-snapshot", snap.id),
            *_upgrade(f, snap),
            *_reimport(f, snap, cmd),
            _verify_management(f),
        ]

    minutes = (f.minutes("revert-snapshot") + (UPGRADE_MINUTES if mismatch else 0)
               + (f.import_minutes(export) if export else 0))
    return Draft("revert-snapshot", mn.name, snap.id, loses, minutes, 2 + mismatch,
                 _lost_seconds(f, snap), steps, blockers)


def restore_backup(f: Facts, backup: RestorePoint) -> Draft:
    """Deploy a fresh Management Node of the backup's version and ``backup_restore`` onto it."""
    mn = f.ev.management_node
    blockers = []
    if not backup.verified:
        blockers.append(f"config backup {backup.id} is not verified (hash and passphrase unchecked)")
    if backup.passphrase_missing:
        blockers.append(backup.passphrase_missing)
    if backup.version is None:
        blockers.append(f"config backup {backup.id} has no recorded version: the fresh Management "
                        "Node must run the backup's version")
    mismatch = _differs(backup, f)
    loses = (f"config changes since {human_time(backup.taken_at)}"
             + _version_flag("config backup", backup, f) + _export_note(f, backup))
    export = f.newer_export(backup.taken_at)

    def steps(cmd: str) -> list[Step]:
        # Every command of this path names the target: without --target-url the restore (and
        # its dry run, the first step) refuses, so a command without it fails when pasted.
        cmd = f"{cmd} --target-url https://NEW-NODE"
        return [
            *_confirm_down(f),
            Step("Check the prerequisites", True,
                 f"`{cmd} --dry-run`: backup {backup.id}'s sha256, the passphrase, the target "
                 "reachable (or checked once deployed); changes nothing" + _fetch_note(backup),
                 "check"),
            Step(f"Deploy a fresh Management Node of version {_full(backup)}", False,
                 f"on {_platform(mn.platform)}, with {mn.name}'s address and hostname; keep the old VM "
                 "powered off", "deploy-management"),
            Step(f"Restore config backup {backup.id}", True,
                 f"`{cmd}`: uploads it with backup_restore; the "
                 "node restarts", "restore-backup", backup.id),
            _relicense(f, f"the fresh {mn.name}"),
            *_upgrade(f, backup),
            *_reimport(f, backup, cmd),
            _verify_management(f),
        ]

    minutes = (f.minutes("restore-backup") + (UPGRADE_MINUTES if mismatch else 0)
               + f.download_minutes(backup)
               + (f.import_minutes(export) + f.download_minutes(export) if export else 0))
    return Draft("restore-backup", mn.name, backup.id, loses, minutes, 1 + mismatch,
                 _lost_seconds(f, backup), steps, blockers)


def import_rooms(f: Facts, export: RestorePoint) -> Draft:
    """Re-create rooms lost while the Management Node runs from the newest room export."""
    lost = list(f.ev.lost_rooms)
    loses = (f"settings not in the export; changes to the lost rooms since "
             f"{human_time(export.taken_at)}; rooms created after it are not in it")

    def steps(cmd: str) -> list[Step]:
        return [
            Step("Check the prerequisites", True,
                 f"`{cmd} --dry-run`: room export {export.id}'s sha256; changes nothing"
                 + _fetch_note(export), "check"),
            Step(f"Re-create {len(lost)} lost room(s)", True,
                 f"re-creates {name_list(lost)} with their aliases from {export.id}, skipping "
                 f"rooms that exist (`{cmd}`)", "import-rooms", export.id),
            Step("Check the rooms", False,
                 "in the admin UI, Services > Virtual Meeting Rooms: the rooms and aliases are "
                 "back; dial one alias", "verify"),
        ]

    return Draft("import-rooms", f.ev.management_node.name, export.id, loses,
                 f.import_minutes(export) + f.download_minutes(export), 1, _lost_seconds(f, export), steps)


def redeploy_node(f: Facts, node: ConferencingNode) -> Draft:
    """Redeploy a lost Conferencing Node from a configuration-only deployment file."""
    cloud = node.platform in CLOUD_PLATFORMS
    where = f" in location {node.location}" if node.location else ""
    loses = f"no configuration (Conferencing Nodes hold none of their own); {node.name}'s " \
            "capacity until it is back"

    def steps(cmd: str) -> list[Step]:
        image = (f"{_platform(node.platform)} needs a disk image of version {f.version} in place: create it "
                 "from the Pexip image first if it is missing; then launch the instance"
                 if cloud else f"deploy the Conferencing Node VM of version {f.version} on "
                 f"{_platform(node.platform)}")
        return [
            Step(f"Remove the lost {node.name}", False,
                 f"make sure the old VM is powered off or deleted on {_platform(node.platform)}; Pexip "
                 "advises redeploying Conferencing Nodes rather than reverting snapshots",
                 "remove-node", node.name),
            Step("Create the deployment file", True,
                 f"`{cmd}`: the Management Node creates {node.name}'s configuration-only "
                 "deployment file", "deployment-file", node.name),
            Step(f"Deploy {node.name}", False, f"{image}, with the deployment file",
                 "deploy-node", node.name),
            Step(f"Check {node.name} is in contact", False,
                 f"Status > Conferencing Nodes: {node.name}{where} in contact, version {f.version}",
                 "verify", node.name),
        ]

    minutes = f.minutes("redeploy-node")
    if cloud and "redeploy-node" not in f.drill_minutes:
        minutes += CLOUD_IMAGE_MINUTES
    return Draft("redeploy-node", node.name, None, loses, minutes, 1, 0.0, steps,
                 needs_management=True)


def rebuild(f: Facts) -> Draft:
    """The last resort: a new deployment, rooms re-imported from the newest export if any."""
    export = f.export
    nodes = f.ev.conferencing_nodes
    if export:
        loses = (f"everything not in room export {export.id} ({human_time(export.taken_at)}): "
                 "system configuration, locations, certificates, licences, and rooms changed "
                 "since the export")
    else:
        loses = "all configuration and all rooms: there is no room export"
    per_node = f.minutes("redeploy-node")

    def steps(cmd: str) -> list[Step]:
        rooms = (Step(f"Re-import rooms from {export.id}", True,
                      f"re-creates rooms and aliases from room export {export.id} (`{cmd}`)",
                      "import-rooms", export.id)
                 if export else Step("Re-create rooms by hand", False, "there is no room export",
                                     "rooms-by-hand"))
        return [
            *_confirm_down(f),
            Step("Open a Pexip support ticket", False,
                 f"attach `backup-agent support-bundle --deployment {f.ev.deployment} "
                 "--out bundle.tgz`", "call-support"),
            Step(f"Deploy a new Management Node of version {f.version}", False,
                 f"on {_platform(f.ev.management_node.platform)}; keep the old one powered off",
                 "deploy-management"),
            _relicense(f, f"the new {f.ev.management_node.name}"),
            Step("Re-enter the system configuration", False,
                 "DNS, NTP, locations, certificates, call routing, by hand",
                 "reenter-config"),
            Step(f"Redeploy all {len(nodes)} Conferencing Node(s)", False,
                 "each from a configuration-only deployment file of the new Management Node",
                 "redeploy-nodes"),
            rooms,
            _verify_management(f),
        ]

    minutes = (f.minutes("rebuild") if "rebuild" in f.drill_minutes
               else f.minutes("rebuild") + per_node * len(nodes)
               + (f.import_minutes(export) if export else 0))
    return Draft("rebuild", f.ev.deployment, export.id if export else None, loses, minutes, 5,
                 float("inf"), steps)
