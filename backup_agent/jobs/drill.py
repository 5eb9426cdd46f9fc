"""Drills: a plan executed against a simulator built from the newest restore points, timed
and checked.

A drill builds a fresh simulated deployment in-process (an empty Management Node of the
version the plan restores onto, plus the inventory's Conferencing Nodes), breaks it per the
scenario, plans from the agent's own catalog (no probe reaches production), runs the plan's
automated steps against the simulator, and verifies the result: every room of the newest room
export back with its aliases and content, and a deployment file for every lost node.

It is recorded as a run of job ``drill``. Its ``summary["paths"]`` lists ``{"kind",
"minutes"}`` per drilled path kind, which the evidence turns into the planner's estimates;
``minutes`` is the measured time of the automated steps plus, for what a simulator cannot
time (deploying a VM, a node restarting, a person checking), the stated allowances below.
Snapshot reverts are not drilled: a VM snapshot lives at the real provider.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from backup_agent.catalog import Run
from backup_agent.config import Deployment, Secret
from backup_agent.errors import AgentError, NotReadyError, UsageError
from backup_agent.jobs import DRILL_SCENARIOS, restore_steps
from backup_agent.jobs import inventory as inventory_job
from backup_agent.jobs.env import Env
from backup_agent.jobs.evidence import collect
from backup_agent.jobs.restore import path_record
from backup_agent.jobs.runner import frame
from backup_agent.planner import make_plan, parse_evidence

log = logging.getLogger(__name__)
SCENARIOS = DRILL_SCENARIOS
# Minutes for what the simulator cannot time, by step action (the planner adds upgrades).
MANUAL_MINUTES = {"confirm-down": 5, "call-support": 0, "deploy-management": 45, "upgrade": 0,
                  "verify": 5, "remove-node": 5, "deploy-node": 20, "reenter-config": 240,
                  "redeploy-nodes": 30, "rooms-by-hand": 0}
RESTART_MINUTES = {"restore-backup": 25, "revert-snapshot": 10}  # the node restarting
# Paths whose estimate the planner makes up of its own minutes plus the re-import's.
ADDS_IMPORT = ("restore-backup", "revert-snapshot")


@dataclass
class DrillStep:
    """One step as drilled: what ran (or was allowed for) and how long it took."""

    path: str
    target: str
    number: int
    title: str
    action: str
    state: str
    seconds: float
    allowance_minutes: float = 0.0
    detail: str = ""


@dataclass
class Drill:
    """The drill in progress: its simulator, deployment view and results."""

    env: Env
    deployment: Deployment
    scenario: str
    conferencing_nodes: int = 0
    steps: list[DrillStep] = field(default_factory=list)
    paths: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def _inventory(env: Env, deployment: Deployment) -> dict[str, Any]:
    rp = env.catalog.latest(deployment.name, "inventory")
    if rp is None:
        raise NotReadyError(f"{deployment.name}: no inventory in the catalog to build the drill "
                            "from: run `backup-agent backup` or `export` first")
    return inventory_job.load(env, rp)


def _plan(env: Env, deployment: Deployment, failed: list[str], management_up: bool) -> Any:
    evidence = collect(env, deployment, failed, None if management_up else env.clock(),
                       probe=False)
    if management_up:
        mn = evidence["management_node"]
        evidence["management_node"] = {"name": mn["name"], "status": "up",
                                       "platform": mn["platform"]}
    return make_plan(parse_evidence(evidence))


def run_path(d: Drill, ctx: restore_steps.StepContext, path: dict[str, Any]) -> None:
    """Run ``path``'s automated steps against the simulator, timing each; manual ones allowed."""
    minutes, import_seconds = 0.0, None

    def record(n: int, step: dict[str, Any], state: str, seconds: float, allowance: float,
               detail: str) -> None:
        d.steps.append(DrillStep(path["kind"], path["target"], n, step["title"], step["action"],
                                 state, seconds, allowance, detail))

    for n, step in enumerate(path["steps"], 1):
        action = step["action"]
        if not step["automated"]:
            allowance = MANUAL_MINUTES.get(action, 5) * (
                max(d.conferencing_nodes, 1) if action == "redeploy-nodes" else 1)
            record(n, step, "skipped", 0.0, allowance, "manual: allowed for, not drilled")
            minutes += allowance
            continue
        t0 = time.monotonic()
        try:
            if action == "check":
                restore_steps.require(restore_steps.preflight(ctx, path["steps"], n + 1))
                detail = "prerequisites met"
            else:
                detail = restore_steps.ACTIONS[action](ctx, str(step.get("ref")))
        except AgentError as exc:
            record(n, step, "failed", time.monotonic() - t0, 0.0, str(exc))
            raise
        seconds = time.monotonic() - t0
        restart = RESTART_MINUTES.get(action, 0)
        record(n, step, "done", seconds, restart, detail)
        if action == "import-rooms" and path["kind"] != "import-rooms":
            # Also its own estimate, measured only when the import re-created rooms: skipping
            # rooms that all exist says nothing about the time it takes.
            import_seconds = seconds if getattr(ctx.last_import, "created", 0) else None
        if action != "import-rooms" or path["kind"] not in ADDS_IMPORT:
            minutes += seconds / 60 + restart
        if action == "deployment-file" and ctx.out_dir:
            d.files[str(step["ref"])] = restore_steps.deployment_file(ctx.out_dir, str(step["ref"]))
    d.paths.append({"kind": path["kind"], "target": path["target"],
                    "minutes": round(max(minutes, 0.01), 3)})
    if import_seconds is not None:
        d.paths.append({"kind": "import-rooms", "minutes": round(max(import_seconds / 60, 0.01), 3)})


def _management_path(plan: Any) -> dict[str, Any]:
    """The first ready path that brings the Management Node back and can be drilled."""
    for path in plan.paths:
        if path.ready and path.kind in ("restore-backup", "rebuild"):
            return path_record(path)
    raise NotReadyError("no ready path to drill for the Management Node")


def _simulator(version: str, inv: dict[str, Any], password: str, mgr: str) -> Any:
    from backup_agent.sim import SimOptions, Simulator

    sim = Simulator(SimOptions(empty=True, conferencing_nodes=0, password=password,
                               version=version, management_name=mgr)).start()
    for node in inv.get("conferencing_nodes", []):
        sim.state.add_node(str(node["name"]), str(node.get("system_location") or "Default"),
                           address=node.get("address"))
    return sim


def verify(d: Drill, client: Any, restored_management: bool) -> dict[str, Any]:
    """Rooms and aliases against the newest room export; a deployment file per lost node."""
    from backup_agent.jobs.export import load_rooms, read_rooms
    from backup_agent.jobs.import_rooms import compare

    result: dict[str, Any] = {"verified": True}
    export = d.env.catalog.latest(d.deployment.name, "room-export")
    if restored_management and export is not None:
        rooms = compare(load_rooms(d.env, export), read_rooms(client))
        result["rooms"] = {"export": export.id, **rooms}
        result["verified"] = bool(rooms["matches"])
    elif restored_management:
        result["rooms"] = {"export": None, "matches": None, "note": "no room export to check"}
    files = {}
    for node, path in d.files.items():
        try:
            # the file was just written by this drill from its own in-process simulator
            # bandit B314: that file, and expat (>= 2.4.1) refuses entity expansion bombs
            ok = ElementTree.fromstring(path.read_bytes()).findtext("name") == node  # noqa: S314  # nosec B314
        except (OSError, ElementTree.ParseError):
            ok = False
        files[node] = ok
    if files:
        result["deployment_files"] = files
        result["verified"] = result["verified"] and all(files.values())
    return result


def drill(env: Env, deployment: Deployment, scenario: str) -> Run:
    """Run one drill and record it as a run of job ``drill``."""
    if scenario not in SCENARIOS:
        raise UsageError(f"--scenario {scenario}: one of {', '.join(SCENARIOS)}")
    inv = _inventory(env, deployment)
    mgr = str((inv.get("management_node") or {}).get("name") or "management")
    cns = [str(n["name"]) for n in inv.get("conferencing_nodes", [])]
    lose_mn = scenario in ("management-lost", "site-lost")
    lost_cns = cns if scenario in ("nodes-lost", "site-lost") else []
    if scenario == "nodes-lost" and not lost_cns:
        raise NotReadyError(f"{deployment.name}: the inventory has no Conferencing Node to lose")
    # The drill reaches no production node: no API secret is needed, only the frame's lock,
    # interruption and outcome.
    with frame(env, deployment, "drill", ["drill"], purpose=["drill"], needs_api=False) as run:
        run.summary, reason = _rehearse(Drill(env, deployment, scenario, len(cns)), inv, mgr,
                                        lose_mn, lost_cns)
        run.item("drill", "ok" if not reason else "failed", reason)
    return run


def _rehearse(d: Drill, inv: dict[str, Any], mgr: str, lose_mn: bool,
              lost_cns: list[str]) -> tuple[dict[str, Any], str | None]:
    """Build the simulator, break it, run the plan's steps on it, verify: the run's summary
    and why it failed (None when it did not)."""
    env, deployment, scenario = d.env, d.deployment, d.scenario
    mgmt_path = _management_path(_plan(env, deployment, ["management", *lost_cns], False)) \
        if lose_mn else None
    version = (_version_of(env, mgmt_path) if mgmt_path else None) \
        or str(inv.get("software_version") or "unknown")
    tmp = Path(tempfile.mkdtemp(prefix="backup-agent-drill-"))
    password = secrets.token_urlsafe(18)
    (tmp / "password").write_text(password)
    (tmp / "password").chmod(0o600)
    sim = _simulator(version, inv, password, mgr)
    t0 = time.monotonic()
    try:
        drill_dep = replace(deployment, url=sim.url, client_id=None, private_key=None,
                            password=Secret("drill.password", file=str(tmp / "password")),
                            verify_tls=True, ca_bundle=None, retries=0)
        denv = Env(config=env.config, catalog=env.catalog, store=env.store, clock=env.clock)
        for node in lost_cns:
            sim.state.set_node_down(node)
        ctx = restore_steps.StepContext(denv, drill_dep, sim.url, False, tmp / "files")
        try:
            if mgmt_path is not None:
                run_path(d, ctx, mgmt_path)
            if lost_cns:
                plan = _plan(denv, drill_dep, lost_cns, True)
                for path in plan.paths:
                    if path.kind == "redeploy-node":
                        run_path(d, ctx, path_record(path))
            result = verify(d, ctx.target(), lose_mn)
            if ctx.last_import is not None:
                result["import"] = ctx.last_import.to_dict()
            reason = None if result["verified"] else "the restored deployment does not match"
        except AgentError as exc:
            result, reason = {"verified": False, "error": str(exc)}, str(exc)
        finally:
            ctx.close()
    finally:
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {"scenario": scenario, "paths": d.paths if not reason else [],
               "drilled_paths": d.paths, "seconds": round(time.monotonic() - t0, 3),
               "version": version,
               "steps": [{"path": s.path, "target": s.target, "step": s.number, "title": s.title,
                          "action": s.action, "state": s.state,
                          "seconds": round(s.seconds, 3), "allowance_minutes": s.allowance_minutes,
                          "detail": s.detail} for s in d.steps],
               "verification": result}
    return summary, reason


def _version_of(env: Env, path: dict[str, Any]) -> str | None:
    """The version of the path's restore point: a fresh node is deployed at it."""
    if path["kind"] != "restore-backup":
        return None
    return env.catalog.restore_point(str(path["restore_point"])).version
