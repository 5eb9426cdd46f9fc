"""Evidence for the planner, built from the catalog and live probes.

The catalog gives the restore points, the inventory (nodes, locations, version) and the last
time the agent reached the Management Node; live probes say whether the Management Node
answers now, how its Conferencing Nodes are, which rooms are gone since the newest export, and
whether each snapshot still exists at its provider. What the user declares (``failed``,
``down_since``) wins over what is probed. The result is design.md's evidence JSON: it can be
written out (``backup-agent evidence``) and replayed anywhere (``plan --evidence``). Front
ends call it through :mod:`backup_agent.service.evidence`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from backup_agent.catalog import RestorePoint, iso, parse_iso
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, ApiError, AuthError, Hint, UsageError
from backup_agent.jobs import inventory as inventory_job
from backup_agent.jobs import passphrase, probe, snapshot_probes, snapshots
from backup_agent.jobs.env import Env

log = logging.getLogger(__name__)
PLATFORMS = {"vmware": "vmware", "hyperv": "hyperv", "aws": "aws", "azure": "azure", "gcp": "gcp"}
MANAGEMENT = "management"


def platform_of(env: Env, deployment: Deployment, node: str) -> str:
    """The node's platform, from the provider type it is bound to in the configuration."""
    for n in deployment.nodes:
        if n.name == node and n.provider and n.provider in env.config.providers:
            return PLATFORMS.get(env.config.providers[n.provider].type, "other")
    return "other"


def probe_management(env: Env, deployment: Deployment) -> tuple[str, probe.Live | None, str | None]:
    """``up`` with what the Management Node says (node health, alarms) when the API answers;
    else ``down`` or ``unknown``, with why (a node that refuses the credentials is not known
    to be down)."""
    client = env.client(deployment)
    try:
        live = probe.read(client, env.clock())
    except AuthError as exc:
        log.warning("Management Node answers but refuses the credentials: %s", exc)
        return "unknown", None, f"it answers but refuses the agent's credentials: {exc}"
    except ApiError as exc:
        log.warning("Management Node probe failed: %s", exc)
        return "down", None, str(exc)
    env.catalog.record_contact(deployment.name, env.clock())
    return "up", live, None


def _node(env: Env, deployment: Deployment, node: dict[str, Any], failed: list[str],
          live: probe.Live | None) -> dict[str, Any]:
    """One Conferencing Node of the evidence: declared, judged from the live probe, or unknown."""
    name = str(node.get("name"))
    out = {"name": name, "status": "unknown", "platform": platform_of(env, deployment, name),
           "location": node.get("system_location")}
    health = live.health.get(name) if live is not None else None
    if name in failed:
        out["status"] = "down"
    elif health is not None:
        out["status"] = health.status
    elif live is not None:
        out["why"] = "not in the Management Node's status/v1/worker_vm/"
    if health is not None:  # extensions the planner ignores; status shows them
        if health.why:
            out["why"] = health.why
        if health.out_of_contact_since:
            out["out_of_contact_since"] = iso(health.out_of_contact_since)
    return out


def _audits(env: Env, deployment: Deployment, live: probe.Live) -> dict[str, Any]:
    """Alarms by node name, the built-in backups and the licences: what ``status`` warns of."""
    return probe.audit(env.client(deployment), live, env.clock().date())


def _autonomy_start(env: Env, deployment: Deployment, cns: list[dict[str, Any]]) -> datetime | None:
    """When the Conferencing Nodes lost their Management Node: the agent's last contact, or,
    when the node still answers and says every Conferencing Node lost contact with it, when
    the first did (their clock runs from then, not from the agent's probe). Never before a
    backup or export taken through the API, which proves it worked then."""
    last = _last_contact(env, deployment)
    times = [parse_iso(n["out_of_contact_since"]) for n in cns if n.get("out_of_contact_since")]
    if not cns or len(times) < len(cns):
        return last
    proofs = [rp.taken_at for kind in ("config-backup", "room-export")
              if (rp := env.catalog.latest(deployment.name, kind)) is not None]
    start = _earliest(last, min(times))
    return max([start, *proofs]) if start is not None else last


def collect(env: Env, deployment: Deployment, failed: list[str],
            down_since: datetime | None, probe: bool = True, deep: bool = True,
            read_points: bool = True, newest: int | None = None) -> dict[str, Any]:
    """Evidence for one deployment; ``probe=False`` uses the catalog alone.

    ``read_points=False`` leaves ``restore_points`` empty: the autonomy clock (``status``) needs
    none, and reading 10,000 of them was most of what ``status`` took. ``newest=N`` reads only
    the newest N of each kind, and of the Management Node's snapshots: enough for the top path
    of a summary (the console's cards, 50 deployments a page), not for the full plan.

    ``deep=False`` skips the slow probes (each snapshot at its provider, the rooms against
    the newest export) and keeps the Management Node probe: what ``status`` needs.
    """
    inv_rp, inv = _inventory(env, deployment)
    mgr_name = (inv.get("management_node") or {}).get("name") or next(
        (n.name for n in deployment.nodes if n.role == "management"), "management-node")
    configured = [n.name for n in deployment.nodes if n.role == "conferencing"]
    # The inventory (what the Management Node said) is the list of nodes; the configuration's
    # list stands in only when there is no inventory yet.
    cn_nodes = inv.get("conferencing_nodes", []) or [{"name": n} for n in configured]
    known = {MANAGEMENT, mgr_name, *(str(n.get("name")) for n in cn_nodes)}
    for name in failed:
        if name not in known:
            hint = (f"; agent.toml names {name} but the inventory of {iso(inv_rp.taken_at)} "
                    "does not: check the node's name in Infinity"
                    if inv_rp is not None and name in configured else "")
            raise UsageError(f"--failed {name}: not a node of {deployment.name} in the inventory "
                             f"(known: {', '.join(sorted(known))}){hint}")
    if down_since is not None:
        _check_declared(env, deployment, down_since)
    status, live, why = (probe_management(env, deployment) if probe
                         else ("unknown", None, "not probed (--no-probe)"))
    now = env.clock()  # after the probe, whose answer may become the last contact
    if MANAGEMENT in failed or mgr_name in failed:
        status = "down"
    if not inv.get("conferencing_nodes") and live is not None and not configured:
        # no inventory yet: the nodes the Management Node reports now
        cn_nodes = [{"name": w.get("name"), "system_location": w.get("system_location")}
                    for w in live.workers]
    cns = [_node(env, deployment, node, failed, live) for node in cn_nodes]
    management: dict[str, Any] = {"name": mgr_name, "status": status,
                                  "platform": platform_of(env, deployment, mgr_name)}
    if why and not (MANAGEMENT in failed or mgr_name in failed):
        management["probe"] = why  # an extension the planner ignores; status shows it
    if status != "up":
        since = down_since or _autonomy_start(env, deployment, cns)
        if since is None and status == "down":
            raise UsageError(f"{deployment.name}: the agent never reached the Management Node, "
                             "so when it went down must be declared",
                             hint=Hint(flag="--down-since TIME"))
        if since is not None:
            management["down_since"] = iso(since)
    cutoff = parse_iso(management["down_since"]) if "down_since" in management else now
    kept = _read_points(env, deployment, newest, mgr_name, cutoff) if read_points else []
    found, unchecked = (snapshot_probes.probe_newest(
        [rp for rp in kept if rp.kind == "snapshot"], lambda rp: snapshots.probe(env, rp))
        if probe and deep else ({}, None))
    keys = passphrase.Availability(deployment)
    points = [p for rp in kept if (p := _point(env, rp, found, keys)) is not None]
    evidence: dict[str, Any] = {
        "deployment": deployment.name, "now": iso(now),
        "software_version": inv.get("software_version") or _live_version(live)
        or _newest_version(points) or "unknown",
        "management_node": management, "conferencing_nodes": cns, "restore_points": points,
        "failed": list(dict.fromkeys(failed)),
    }
    if live is not None:
        evidence.update(_audits(env, deployment, live))
    elif inv.get("licences"):  # for the re-license step while the node cannot be asked
        evidence["licences"] = inv["licences"]
    if unchecked:  # an extension the planner ignores; plan and evidence say it
        evidence["snapshot_probes"] = unchecked
    if drills := _drills(env, deployment):
        evidence["drills"] = drills
    if status == "up" and probe and deep and (lost := _lost_rooms(env, deployment)):
        evidence["lost_rooms"] = lost
    return evidence


def _read_points(env: Env, deployment: Deployment, newest: int | None, management: str,
                 cutoff: datetime) -> list[RestorePoint]:
    """The live restore points taken by ``cutoff``, newest first; with ``newest``, N of each
    kind (and N of the Management Node's snapshots, which others' snapshots could push out),
    each by the index, reading further back only past points newer than the cutoff."""
    if newest is None:
        return [rp for rp in env.catalog.restore_points(deployment.name) if rp.taken_at <= cutoff]
    unique: dict[str, RestorePoint] = {}
    for kind, node in (("config-backup", None), ("room-export", None), ("snapshot", None),
                       ("snapshot", management)):
        limit = newest
        while True:
            read = env.catalog.restore_points(deployment.name, kind, node=node, limit=limit)
            kept = [rp for rp in read if rp.taken_at <= cutoff]
            if len(kept) >= newest or len(read) < limit:
                break
            limit *= 4
        unique.update((rp.id, rp) for rp in kept[:newest])
    return sorted(unique.values(), key=lambda rp: (rp.taken_at, rp.id), reverse=True)


def _inventory(env: Env, deployment: Deployment) -> tuple[RestorePoint | None, dict[str, Any]]:
    """The newest inventory that can be read; a damaged file must not stop a plan in a P1."""
    for rp in _newest_first(env, deployment.name, "inventory"):
        try:
            return rp, inventory_job.load(env, rp)
        except AgentError as exc:
            log.warning("cannot read inventory %s, trying an older one: %s", rp.id, exc)
    return None, {}


def _newest_first(env: Env, deployment: str, kind: str) -> Iterator[RestorePoint]:
    """The newest point of ``kind`` alone, the others only if asked for: reading every
    inventory (thousands) when the newest one reads was most of what a status took."""
    newest = env.catalog.restore_points(deployment, kind, limit=1)
    yield from newest
    if newest:
        yield from env.catalog.restore_points(deployment, kind)[1:]


def _check_declared(env: Env, deployment: Deployment, down_since: datetime) -> None:
    """A ``--down-since`` the catalog contradicts is refused before the (slow) probes.

    A config backup or room export is made through the Management Node's API, so one taken
    after ``down_since`` proves the node answered then. Leaving them out, as points newer than
    ``down_since`` must be, planned a rebuild that loses everything while good backups exist.
    """
    now = env.clock()
    if down_since > now:
        raise UsageError(f"--down-since {iso(down_since)} is in the future (now is {iso(now)})")
    later = [rp for kind in ("config-backup", "room-export")
             if (rp := env.catalog.latest(deployment.name, kind)) is not None
             and rp.taken_at > down_since]
    if later:
        rp = max(later, key=lambda p: p.taken_at)
        raise UsageError(f"--down-since {iso(down_since)}: the Management Node answered after it "
                         f"({rp.kind} {rp.id} was taken at {iso(rp.taken_at)}); give the time it "
                         "stopped answering, or leave --down-since out to use the last contact")


def _last_contact(env: Env, deployment: Deployment) -> datetime | None:
    last = env.catalog.contact(deployment.name)["last_contact"]
    return parse_iso(last) if last else None


def _earliest(*moments: datetime | None) -> datetime | None:
    """The earliest known moment: a node's own record of losing contact beats the agent's
    last probe as the autonomy clock's start (the probe may have come long after)."""
    return min((m for m in moments if m is not None), default=None)


def _live_version(live: probe.Live | None) -> str | None:
    primary = next((m for m in live.managers if m.get("primary", True)), None) if live else None
    return str(primary["version"]) if primary and primary.get("version") else None


def _newest_version(points: list[dict[str, Any]]) -> str | None:
    return next((p["version"] for p in points if p.get("version")), None)


def _point(env: Env, rp: RestorePoint, found: dict[str, bool | None],
           keys: passphrase.Availability) -> dict[str, Any] | None:
    base: dict[str, Any] = {"kind": rp.kind, "id": rp.id, "taken_at": iso(rp.taken_at)}
    verified = rp.verified
    if rp.kind in ("config-backup", "room-export") and env.config.copies:
        from backup_agent.jobs.fetch import missing, offsite_source

        # Local bytes gone, a verified off-site copy has them: offered, with its download.
        if (source := offsite_source(env, rp)) is not None:
            base["copy"] = {"store": source.store, "bytes": source.size}
        verified = source is not None or (rp.verified and not missing(env, rp))
    if rp.kind == "config-backup":
        point = {**base, "version": rp.version, "verified": verified}
        if why := keys.problem(rp):  # the passphrase it needs is gone: not a restore point
            point["passphrase"] = {"available": False, "reason": why}
        return {**point, "build": rp.build} if rp.build else point
    if rp.kind == "room-export":
        return {**base, "version": rp.version, "rooms": rp.data.get("rooms")}
    if rp.kind == "snapshot":
        available = found.get(rp.id)
        point = {**base, "version": rp.version, "node": rp.node, "provider": rp.provider}
        return point if available is None else {**point, "available": available}
    return None  # inventories are evidence of their own, not restore paths


def _drills(env: Env, deployment: Deployment) -> list[dict[str, Any]]:
    out = []
    # Drills by the job's index: among the last 200 runs of any job, a daemon's watch (every
    # 5 min) pushed them out within a day.
    for run in env.catalog.runs(deployment.name, limit=200, job="drill"):
        if run.outcome == "completed":
            for path in run.summary.get("paths", []):
                out.append({"kind": path["kind"], "minutes": path["minutes"],
                            "at": iso(run.started_at)})
    return out


def _lost_rooms(env: Env, deployment: Deployment) -> list[str]:
    """Rooms in the newest export that the Management Node no longer has."""
    from backup_agent.jobs.export import load_rooms

    newest = env.catalog.latest(deployment.name, "room-export")
    if newest is None:
        return []
    try:
        live = {str(c.get("name")) for c in env.client(deployment).conferences()}
        exported = [str(r.get("name")) for r in load_rooms(env, newest)]
    except AgentError as exc:
        log.warning("cannot compare rooms with export %s: %s", newest.id, exc)
        return []
    return sorted(n for n in exported if n not in live)
