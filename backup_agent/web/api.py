"""The JSON API under ``/api/v1``: reads for any token, triggers for operators.

Reads come from the catalog (the watch job's record says whether the Management Node
answers: ``status`` never probes); ``plan`` and ``evidence`` build the same documents as the
commands of those names, live probes included unless ``probe=false``. Triggers queue the job
in the daemon (``WebState.trigger``) and answer 202 with the id of its run.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from backup_agent.config import Deployment
from backup_agent.web import models as m
from backup_agent.web.auth import Principal, api_operator, api_viewer, web_state
from backup_agent.web.state import Busy

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": m.ErrorBody, "description": why} for code, why in (
        (400, "malformed JSON"), (401, "no token, a wrong token or an expired session"),
        (404, "no such deployment or run"), (413, "a body over 64 KiB"),
        (422, "a parameter out of its range, or a failure naming no known node"),
        (503, "the catalog or store cannot be read, or the daemon is stopping"))}
router = APIRouter(prefix="/api/v1", responses=ERRORS)
Viewer = Annotated[Principal, Depends(api_viewer)]
Operator = Annotated[Principal, Depends(api_operator)]
Name = Annotated[str, Path(min_length=1, max_length=200, description="the deployment's name in agent.toml")]
Failed = Annotated[list[str], Query(max_length=50, description="a lost node, repeatable; "
                                    "'management' is the Management Node (as `plan --failed`)")]
DownSince = Annotated[str | None, Query(max_length=64, description="ISO 8601 with a timezone")]
Probe = Annotated[bool, Query(description="probe the Management Node and providers (as the CLI)")]


def deployment(request: Request, name: str) -> Deployment:
    from fastapi import HTTPException

    found = next((d for d in web_state(request).config.deployments if d.name == name), None)
    if found is None:
        raise HTTPException(404, f"no deployment named {name[:200]!r}")
    return found


@router.get("/session", response_model=m.SessionOut)
def session(request: Request, principal: Viewer) -> dict[str, Any]:
    """Who the request is: the token's name and role, and the CSRF token a signed-in page's
    script sends as X-CSRF-Token (null for a bearer token, which needs none)."""
    from backup_agent.web.auth import csrf_token

    return {"name": principal.name, "role": principal.role, "via": principal.via,
            "csrf_token": csrf_token(request) or None}


@router.get("/deployments", response_model=list[m.DeploymentSummary])
def deployments(request: Request, principal: Viewer) -> list[dict[str, Any]]:
    """Every deployment of agent.toml, with its nodes."""
    return [{"name": d.name, "url": d.url, "nodes": [{"name": n.name, "role": n.role} for n in d.nodes]}
            for d in web_state(request).config.deployments]


@router.get("/status", response_model=m.AllStatus)
def status_all(request: Request, principal: Viewer) -> dict[str, Any]:
    """Every deployment's status, from the catalog (no probe), the worst health, open alerts."""
    from backup_agent.service.status import statuses, worst

    state = web_state(request)
    found = statuses(state.env(), list(state.config.deployments), probe_node=False, watch=True)
    return {"health": worst([s["health"] for s in found]), "deployments": found,
            "alerts": [{"deployment": a.deployment, "key": a.key, "state": a.state} for a in state.alerts()]}


@router.get("/deployments/{name}/status", response_model=m.DeploymentStatus)
def status_one(request: Request, principal: Viewer, name: Name) -> dict[str, Any]:
    """One deployment's status (``backup-agent status --json``, from the catalog)."""
    from backup_agent.service.status import deployment_status

    return deployment_status(web_state(request).env(), deployment(request, name), probe_node=False,
                             watch=True)


@router.get("/deployments/{name}/restore-points", response_model=list[m.RestorePointOut])
def restore_points(request: Request, principal: Viewer, name: Name,
                   kind: Annotated[str | None, Query(pattern="^(config-backup|room-export|inventory|"
                                                              "snapshot|checkpoint)$")] = None,
                   limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[dict[str, Any]]:
    """Restore points, newest first (``backup-agent list --json``)."""
    env = web_state(request).env()
    dep = deployment(request, name)
    return [rp.to_dict(env.store.location) for rp in env.catalog.restore_points(dep.name, kind, limit=limit)]


@router.get("/deployments/{name}/runs", response_model=list[m.RunOut])
def runs(request: Request, principal: Viewer, name: Name,
         job: Annotated[str | None, Query(max_length=40)] = None,
         limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    """Runs, newest first, with their items and who started them."""
    dep = deployment(request, name)
    return [r.to_dict() for r in web_state(request).env().catalog.runs(dep.name, limit=limit, job=job)]


@router.get("/deployments/{name}/evidence", response_model=m.Evidence)
def evidence(request: Request, principal: Viewer, name: Name, failed: Failed = [],  # noqa: B006
             down_since: DownSince = None, probe: Probe = True) -> dict[str, Any]:
    """The planner's evidence (``backup-agent evidence``) for a declared failure."""
    return _evidence(request, name, failed, down_since, probe)


@router.get("/deployments/{name}/plan", response_model=m.PlanOut)
def plan(request: Request, principal: Viewer, name: Name, failed: Failed = [],  # noqa: B006
         down_since: DownSince = None, probe: Probe = True) -> dict[str, Any]:
    """Ranked restore paths for a declared failure (``plan --json``), with the runbook."""
    from backup_agent.service.evidence import plan_document

    out, runbook = plan_document(_evidence(request, name, failed, down_since, probe))
    return {**out, "runbook": runbook}


def _evidence(request: Request, name: str, failed: list[str], down_since: str | None,
              probe: bool) -> dict[str, Any]:
    from backup_agent.planner import parse_evidence
    from backup_agent.planner.evidence import parse_time
    from backup_agent.service.evidence import build_evidence

    dep = deployment(request, name)
    since = parse_time(down_since, "down_since") if down_since else None
    data = build_evidence(web_state(request).env(), dep.name, failed, since, probe=probe)
    parse_evidence(data)  # what we answer must be what the planner accepts
    return data


@router.get("/deployments/{name}/restore-journal", response_model=list[m.RestoreOut])
def restore_journal(request: Request, principal: Viewer, name: Name,
                    limit: Annotated[int, Query(ge=1, le=500)] = 20) -> list[dict[str, Any]]:
    """Past restores and drills, newest first, with their steps."""
    dep = deployment(request, name)
    return [r.to_dict() for r in web_state(request).env().catalog.restores(dep.name, limit=limit)]


@router.get("/runs/{run_id}", response_model=m.RunOut)
def run(request: Request, principal: Viewer,
        run_id: Annotated[str, Path(min_length=1, max_length=300)]) -> dict[str, Any]:
    """One run: ``outcome`` is null while it runs."""
    from fastapi import HTTPException

    found = web_state(request).env().catalog.runs(run_id=run_id, limit=1)
    if not found:
        raise HTTPException(404, f"no run {run_id[:300]!r}")
    return found[0].to_dict()


TRIGGER_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": m.Accepted, "description": "queued: follow it at /api/v1/runs/{run_id}"},
    403: {"model": m.ErrorBody, "description": "a viewer's token, or a missing CSRF token"},
    409: {"model": m.BusyBody, "description": "a writer of the deployment runs: its run id"},
    415: {"model": m.ErrorBody, "description": "not a JSON body (auth = \"none\" only)"}}


def _trigger(request: Request, principal: Principal, name: str, job: str) -> JSONResponse:
    dep = deployment(request, name)
    try:
        run_id = web_state(request).trigger(dep.name, job, principal.actor)
    except Busy as exc:
        return JSONResponse({"error": f"a run of {dep.name} is in progress", "run_id": exc.run_id},
                            status_code=409)
    return JSONResponse({"run_id": run_id}, status_code=202, headers={"Location": f"/api/v1/runs/{run_id}"})


Empty = Annotated[m.TriggerBody | None, Body()]


@router.post("/deployments/{name}/backup", status_code=202, response_model=m.Accepted,
             responses=TRIGGER_RESPONSES)
def trigger_backup(request: Request, principal: Operator, name: Name, body: Empty = None) -> JSONResponse:
    """Start a config backup now (``backup-agent backup``)."""
    return _trigger(request, principal, name, "backup")


@router.post("/deployments/{name}/export", status_code=202, response_model=m.Accepted,
             responses=TRIGGER_RESPONSES)
def trigger_export(request: Request, principal: Operator, name: Name, body: Empty = None) -> JSONResponse:
    """Start a room export now (``backup-agent export``)."""
    return _trigger(request, principal, name, "export")


@router.post("/deployments/{name}/checkpoint", status_code=202, response_model=m.Accepted,
             responses=TRIGGER_RESPONSES)
def trigger_checkpoint(request: Request, principal: Operator, name: Name,
                       body: Empty = None) -> JSONResponse:
    """Take a pre-upgrade checkpoint now, with its defaults (``backup-agent checkpoint create``)."""
    return _trigger(request, principal, name, "checkpoint")
