"""Status: is each deployment protected right now? The health check of the agent.

What ``backup-agent status`` (and, later, the daemon's health endpoint) calls. Per
deployment: its **health** with the reasons for it, the Management Node as a short probe
finds it, the last contact, the autonomy clock, the newest restore point of each kind and the
last run of each job, every time with its age.

Health, worst first:

``down``
    The Management Node does not answer the probe, or the agent has never reached it.
``degraded``
    It answers but refuses the agent's credentials; or the last config backup or room export
    run did not complete; or there is no config backup yet; or the status of the deployment
    could not be assembled (a secret missing).
``healthy``
    None of the above.

The probe has a budget of its own (:data:`PROBE_TIMEOUT` seconds per request, no retries): a
health check that spends 15 s in backoff when the node is down is a health check that times
out. Without the probe (``probe=False``) nothing is contacted: the Management Node is "not
probed" and no autonomy clock is shown, because one would start at the last contact and tick
even when that contact was a minute ago.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backup_agent.catalog import Run, iso, parse_iso
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, ApiError, AuthError
from backup_agent.jobs.env import Env

if TYPE_CHECKING:
    from backup_agent.jobs.probe import Live

log = logging.getLogger(__name__)

HEALTHY, DEGRADED, DOWN = "healthy", "degraded", "down"
HEALTH_ORDER = (HEALTHY, DEGRADED, DOWN)
KINDS = ("config-backup", "room-export", "inventory", "snapshot")
#: The jobs whose newest run status shows however long ago it was (others: when recent).
KNOWN_JOBS = ("backup", "export", "retention", "verify", "watch", "audit", "checkpoint",
              "snapshot", "drill", "copy", "harvest")
#: Jobs whose last run must have completed for a deployment to be healthy.
GUARDED_JOBS = ("backup", "export")
#: Seconds per request of the probe, which makes one attempt: refused or closed connections
#: fail at once, a host that swallows packets costs this, a slow node at most twice this.
PROBE_TIMEOUT = 2.0
NOT_PROBED = "not probed"


def age_text(then: datetime, now: datetime, *, nearest: bool = False) -> str:
    """How long ago ``then`` was, as a person says it: ``just now``, ``5 min``, ``9 days``.

    Ages floor ("9 days" until the tenth day is complete), as people say them. ``nearest``
    rounds each unit instead, the way :func:`backup_agent.planner.clock.hours_text` rounds
    hours: a deadline shown beside "336.0 h left" must read "14 days", not "13 days"."""
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "in the future (check the clocks)"
    cut: Callable[[float], int] = _rounded if nearest else int
    if cut(seconds / 60) < 1:
        return "under a minute"
    if seconds < 3600:
        return f"{cut(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{cut(seconds / 3600)} h"
    return f"{cut(seconds / 86400)} days"


def _rounded(value: float) -> int:
    """Half up, as people round (``round`` would make 13.5 days "14" and 12.5 days "12")."""
    return int(value + 0.5)


def age_seconds(then: datetime, now: datetime) -> int:
    """Whole seconds from ``then`` to ``now``: the JSON's age, for monitors to compare."""
    return int((now - then).total_seconds())


def worst(healths: list[str]) -> str:
    """The health of several deployments: the worst of theirs (healthy when there are none)."""
    return max(healths, key=HEALTH_ORDER.index, default=HEALTHY)


def probe(env: Env, deployment: Deployment) -> tuple[str, Live | None, str | None]:
    """One short look at the Management Node: ``up`` with what it says (node health judged
    from contact, deploy_status and alarms by address; built-in backups; licences), ``down``
    (no usable answer) or ``unknown`` (it answers but refuses the credentials), and why. A
    good answer is recorded as the last contact."""
    from backup_agent.infinity import InfinityClient
    from backup_agent.jobs import probe as live_probe

    quick = replace(deployment, retries=0, timeout=min(deployment.timeout, PROBE_TIMEOUT))
    with InfinityClient(quick) as client:
        try:
            live = live_probe.read(client, env.clock())
            live.extras = live_probe.audit(client, live, env.clock().date())
        except AuthError as exc:
            log.warning("%s: the Management Node answers but refuses the credentials: %s",
                        deployment.name, exc)
            return "unknown", None, f"it answers but refuses the agent's credentials: {exc}"
        except ApiError as exc:
            log.warning("%s: Management Node probe failed: %s", deployment.name, exc)
            return "down", None, str(exc)
    env.catalog.record_contact(deployment.name, env.clock())
    return "up", live, None


def watched(env: Env, deployment: Deployment) -> tuple[str, None, str | None]:
    """The Management Node as the daemon's last ``watch`` run found it, without a probe:
    ``up``, ``down`` with why, or "not probed" when it never ran."""
    # The last watch that finished: the one running now (outcome None, every few seconds in
    # a busy daemon) says nothing yet, and read as "did not finish" it flipped a node down.
    last = [r for r in env.catalog.runs(deployment.name, limit=3, job="watch") if r.finished_at][:1]
    if not last:
        return NOT_PROBED, None, None
    if last[0].outcome == "completed":
        return "up", None, None
    failures = "; ".join(r for _, r in last[0].failures())
    return "down", None, f"the watch of {iso(last[0].started_at)}: {failures or 'did not finish'}"


def deployment_status(env: Env, deployment: Deployment, probe_node: bool = True,
                      watch: bool = False) -> dict[str, Any]:
    """The status of one deployment (JSON-ready), ``health`` and ``reasons`` included.

    ``watch`` (with ``probe_node=False``): the Management Node as the daemon's watch job last
    recorded it, which starts the autonomy clock from the catalog alone (the web API).
    """
    status, live, why = probe(env, deployment) if probe_node else \
        watched(env, deployment) if watch else (NOT_PROBED, None, None)
    # The contact is read after the probe, which records its answer as the last contact, and
    # "now" is taken after it too: a probe slower than a second made that contact "in the future".
    now = env.clock()
    contact = env.catalog.contact(deployment.name)
    last = parse_iso(contact["last_contact"]) if contact["last_contact"] else None
    out: dict[str, Any] = {"deployment": deployment.name, **contact,
                           "last_contact_age": age_text(last, now) if last else None,
                           "last_contact_age_seconds": age_seconds(last, now) if last else None,
                           "management_node": status}
    if why:
        out["management_probe"] = why
    out["autonomy"], note = autonomy(env, deployment, status, live, contact["last_contact"])
    if live is not None:  # node health and the live audits (jobs/probe.py)
        from backup_agent.jobs.probe import node_view
        out["nodes"] = node_view(live)
        out.update(live.extras)
    if note:
        out["note"] = note
    from backup_agent.jobs.checkpoint import age_warnings  # snapshots kept too long

    if old_checkpoints := age_warnings(env, deployment, now):
        out["warnings"] = [*out.get("warnings", []), *old_checkpoints]
    out["newest"] = _newest(env, deployment, now)
    # The newest run of each job, however many watch runs came since (the last 100 runs of a
    # daemon are 8 hours of watches: a failed daily backup fell out of the health check).
    out["last_runs"] = _last_runs(env.catalog.latest_runs(deployment.name), now)
    out["health"], out["reasons"] = _health(out)
    return out


def _newest(env: Env, deployment: Deployment, now: datetime) -> dict[str, Any]:
    from backup_agent.jobs.copy_retention import copies_view
    from backup_agent.jobs.passphrase import Availability

    out: dict[str, Any] = {}
    keys = Availability(deployment)
    latest = {kind: env.catalog.latest(deployment.name, kind) for kind in KINDS}
    copies = copies_view(env, [rp.id for rp in latest.values() if rp]) if env.config.copies else None
    for kind, rp in latest.items():
        out[kind] = None if rp is None else {**rp.to_dict(env.store.location),
                                             "age": age_text(rp.taken_at, now),
                                             "age_seconds": age_seconds(rp.taken_at, now)}
        if rp is None:
            continue
        if why := keys.problem(rp):
            out[kind]["passphrase"] = {"available": False, "reason": why}
        if copies is not None:  # each off-site copy, and its lock's end
            out[kind]["copies"] = copies.get(rp.id, [])
    return out


def _last_runs(runs: list[Run], now: datetime) -> dict[str, dict[str, Any]]:
    """The newest run of each job.

    Run times are kept to the second, so two runs in one second tie; a run's id carries
    microseconds, and for one job of one deployment it sorts as the runs started.
    """
    out: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.id), reverse=True):
        out.setdefault(run.job, {"outcome": run.outcome, "at": iso(run.started_at),
                                 "age": age_text(run.started_at, now),
                                 "age_seconds": age_seconds(run.started_at, now),
                                 "failures": [f"{i}: {r}" for i, r in run.failures()]})
    return out


def autonomy(env: Env, deployment: Deployment, status: str, live: Live | None,
             last_contact: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The autonomy clock when the probe (or the watch's record: the console) says up or
    down; else ``None`` and why not."""
    if status == NOT_PROBED:
        return None, ("not probed: no autonomy clock is shown; it runs only while the "
                      "Management Node is down, from its last contact")
    if status == "unknown":
        return None, ("the Management Node answers, so the Conferencing Nodes are not on their "
                      "own, but the agent cannot work with it until the credentials are fixed")
    if status == "down" and last_contact is None:
        return None, ("the agent has never reached this Management Node, so the autonomy "
                      "deadline cannot be computed; check its url and credentials in agent.toml")
    from backup_agent.jobs.evidence import collect
    from backup_agent.planner import autonomy_clock, parse_evidence

    evidence = collect(env, deployment, [], None, probe=False, deep=False,
                       read_points=False)
    evidence["management_node"]["status"] = status
    evidence["management_node"].pop("probe", None)
    if status == "up":
        evidence["management_node"].pop("down_since", None)
    health = live.health if live is not None else {}
    for node in evidence["conferencing_nodes"]:
        seen = health.get(node["name"])
        node["status"] = seen.status if seen else "unknown"
    return autonomy_clock(parse_evidence(evidence)).to_dict(), None


def _health(s: dict[str, Any]) -> tuple[str, list[str]]:
    """``healthy``, ``degraded`` or ``down`` with every reason (see the module docstring)."""
    down: list[str] = []
    degraded: list[str] = []
    node = s["management_node"]
    if node == "down":  # why is in management_probe
        down.append("the Management Node does not answer the probe")
    if s["last_contact"] is None:
        down.append("the agent has never reached the Management Node")
    if node == "unknown":
        degraded.append("the Management Node answers but refuses the agent's credentials")
    for job in GUARDED_JOBS:
        run = s["last_runs"].get(job)
        if run and run["outcome"] != "completed":
            failed = f": {'; '.join(run['failures'])}" if run["failures"] else ""
            degraded.append(f"the last {job} ({run['at']}) {run['outcome'] or 'did not finish'}"
                            f"{failed}")
    if s["newest"]["config-backup"] is None:
        degraded.append("no config backup yet (run `backup-agent backup`)")
    elif missing := s["newest"]["config-backup"].get("passphrase"):
        degraded.append(missing["reason"])
    reasons = down + degraded
    return (DOWN if down else DEGRADED if degraded else HEALTHY), reasons


def statuses(env: Env, deployments: list[Deployment], probe_node: bool = True,
             watch: bool = False) -> list[dict[str, Any]]:
    """The status of each deployment; one whose status cannot be assembled (a secret missing)
    is reported in its entry, ``error`` and health ``degraded``, and the others still are.
    With a single deployment its error is raised instead."""
    out: list[dict[str, Any]] = []
    for dep in deployments:
        try:
            out.append(deployment_status(env, dep, probe_node, watch))
        except AgentError as exc:
            if len(deployments) == 1:
                raise
            out.append({"deployment": dep.name, "error": str(exc), "health": DEGRADED,
                        "reasons": [str(exc)]})
    return out
