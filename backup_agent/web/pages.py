"""The console's pages: every deployment as a card at ``/``, a deployment's page at
``/deployments/NAME``, and the forms that start a checkpoint, a backup or an export.

Every page needs a signed-in viewer (or a bearer token); without one the auth dependency
sends the browser to ``/signin`` and no deployment data is shown. The forms post with the
session's CSRF token; a viewer, a forged token or a busy deployment gets a page that says
so (403, 403, 409), never a JSON error in the browser. After a start the browser is sent
back (303) to the deployment's page, where the run shows.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from backup_agent.catalog import KINDS
from backup_agent.config import Deployment
from backup_agent.errors import UsageError
from backup_agent.service import overview, overview_page
from backup_agent.web.auth import CSRF_FIELD, Principal, check_csrf, csrf_token, page_viewer, web_state
from backup_agent.web.state import TRIGGERS, Busy
from backup_agent.web.templating import render, segment

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(page_viewer)]
REFRESH_SECONDS = 30  # the index page's refresh (refresh.js), while nobody types
MAX_FAILED = 200  # nodes a declared failure may name on the page
JOB_TEXT = {"checkpoint": "checkpoint", "backup": "backup", "export": "room export"}


def _message(request: Request, status: int, heading: str, message: str,
             back: str | None = None, back_label: str | None = None) -> Response:
    return render(request, "message.html", status_code=status, heading=heading, message=message,
                  back=back, back_label=back_label, csrf=csrf_token(request))


def _deployment(request: Request, name: str) -> Deployment | None:
    return next((d for d in web_state(request).config.deployments if d.name == name), None)


def _unknown(request: Request, name: str) -> Response:
    known = ", ".join(d.name for d in web_state(request).config.deployments) or "none"
    return _message(request, 404, "No such deployment",
                    f"There is no deployment named {name!r} in agent.toml (deployments: {known}).")


@router.get("/")
def index(request: Request, principal: Viewer) -> Response:
    state = web_state(request)
    env = state.env()
    now = env.clock()
    cards = overview.urgent_first(overview.cards(env, state.config.deployments, state.alerts()))
    return render(request, "index.html", cards=cards, csrf=csrf_token(request),
                  now=overview.moment(now, now), refresh=REFRESH_SECONDS)


@router.get("/deployments/{name}")
def deployment(request: Request, name: str, principal: Viewer,
               kind: Annotated[str | None, Query(max_length=40)] = None,
               failed: Annotated[list[str] | None, Query()] = None,
               down_since: Annotated[str | None, Query(max_length=64)] = None,
               started: Annotated[str | None, Query(max_length=300)] = None) -> Response:
    dep = _deployment(request, name)
    if dep is None:
        return _unknown(request, name)
    declared = [f for f in (failed or []) if f.strip()]
    if len(declared) > MAX_FAILED or any(len(f) > 200 for f in declared):
        return _message(request, 400, "Too many failed nodes",
                        f"A failure names at most {MAX_FAILED} nodes of up to 200 characters.",
                        back=f"/deployments/{segment(name)}", back_label=name)
    state = web_state(request)
    env = state.env()
    try:
        page = overview_page.page(env, dep, kind or None, declared or ["management"],
                                  down_since or None, state.alerts())
    except UsageError as exc:
        return _message(request, 400, "Not a restore point kind", str(exc),
                        back=f"/deployments/{segment(name)}", back_label=name)
    now = env.clock()
    run = next((r for r in page.runs if r.id == started), None) if started else None
    notice = (f"The {JOB_TEXT.get(run.job, run.job)} started: run {run.id}, {run.outcome}."
              if run else None)
    return render(request, "deployment.html", page=page, kinds=KINDS, csrf=csrf_token(request),
                  now=overview.moment(now, now), started=notice,
                  points_shown=overview_page.POINTS_SHOWN)


@router.post("/deployments/{name}/{job}")
def start(request: Request, name: str, job: str, principal: Viewer,
          token: Annotated[str | None, Form(alias=CSRF_FIELD, max_length=256)] = None) -> Response:
    dep = _deployment(request, name)
    if dep is None:
        return _unknown(request, name)
    back = f"/deployments/{segment(name)}"
    if job not in TRIGGERS:
        return _message(request, 404, "Nothing to start",
                        f"{job!r} is not a run the console starts (it starts: {', '.join(TRIGGERS)}).",
                        back=back, back_label=name)
    if not principal.operator:
        return _message(request, 403, "Not allowed",
                        f"You are signed in as {principal.name!r}, a viewer: starting a "
                        f"{JOB_TEXT[job]} needs an operator's token. Nothing was started.",
                        back=back, back_label=name)
    try:
        check_csrf(request, token)
    except HTTPException:
        return _message(request, 403, "This form has expired",
                        "The form's CSRF token is missing or wrong (an old page, or a form from "
                        "another site). Nothing was started; reload the page and try again.",
                        back=back, back_label=name)
    try:
        run_id = web_state(request).trigger(name, job, principal.actor)
    except Busy as exc:
        return _message(request, 409, "Already running",
                        f"A run of {name!r} is in progress ({exc.run_id}); nothing else was "
                        "started. Its outcome shows on the deployment's page.",
                        back=back, back_label=name)
    return RedirectResponse(f"{back}?started={segment(run_id)}#runs", status_code=303)
