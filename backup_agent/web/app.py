"""The web app: probes, sign-in, the API under ``/api/v1`` and the console's pages.

``/healthz``, ``/readyz`` and ``/metrics`` answer exactly as before the console (no token:
probes and scrapers have none). Every error is JSON ``{"error": "..."}`` with its status; a
bug answers 500 ``internal error`` and is logged as one line with its type, never a stack
trace, never the request's body or headers.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backup_agent.errors import AgentError, EvidenceError, UsageError
from backup_agent.web import auth
from backup_agent.web.state import WebState

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
STATUS_TEXT = {400: "bad request", 401: "a token is required", 403: "forbidden", 404: "not found",
               405: "method not allowed", 413: "the request body is larger than 64 KiB",
               415: "unsupported media type", 422: "invalid request"}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(state: WebState) -> FastAPI:
    from backup_agent import __version__
    from backup_agent.web import api, pages

    app = FastAPI(title="backup-agent", version=__version__, openapi_url=None, docs_url=None,
                  redoc_url=None, description="The backup agent's API: deployments, status, restore "
                  "points, runs, plans, evidence; triggers for operators.")
    app.state.web = state
    _probes(app, state)
    app.include_router(auth.router)
    app.include_router(api.router)
    _openapi(app)
    app.include_router(pages.router)
    _static(app)
    _handlers(app)
    app.add_middleware(Guard)
    return app


def _probes(app: FastAPI, state: WebState) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST

    def probe(ok: bool, details: dict[str, Any]) -> Response:
        body = json.dumps({"ok": ok, **details}, sort_keys=True).encode() + b"\n"
        return Response(body, status_code=200 if ok else 503, media_type="application/json")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        return probe(*state.health())

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        return probe(*state.ready())

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(state.metrics(), media_type=CONTENT_TYPE_LATEST)


def _openapi(app: FastAPI) -> None:
    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(principal: Annotated[auth.Principal, Depends(auth.api_viewer)]) -> JSONResponse:
        if app.openapi_schema is None:
            schema = app.openapi()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "a token of [[daemon.tokens]] (or the console's session)"}}
            schema["security"] = [{"bearer": []}]
        return JSONResponse(app.openapi_schema)


def _static(app: FastAPI) -> None:
    from importlib.resources import files

    from starlette.staticfiles import StaticFiles

    folder = files("backup_agent.web") / "static"
    if folder.is_dir():
        app.mount("/static", StaticFiles(directory=str(folder)), name="static")


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
        generic = {"Not Found": "not found", "Method Not Allowed": "method not allowed"}
        message = generic.get(detail or "", detail) or STATUS_TEXT.get(exc.status_code, "error")
        return error(exc.status_code, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # Where and what, never the input itself (a pasted token may be in it).
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        what = first.get("msg", "invalid request")
        status = 400 if first.get("type") == "json_invalid" else 422
        return error(status, f"{where}: {what}" if where else what)

    @app.exception_handler(auth.Unauthenticated)
    async def unauthenticated(request: Request, exc: auth.Unauthenticated) -> Response:
        return error(401, exc.reason, {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(auth.TooManyFailures)
    async def too_many(request: Request, exc: auth.TooManyFailures) -> Response:
        return error(429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(auth.SignInFirst)
    async def sign_in_first(request: Request, exc: auth.SignInFirst) -> Response:
        return auth.redirect_to_signin(exc.next_path)

    @app.exception_handler(AgentError)
    async def agent_error(request: Request, exc: AgentError) -> Response:
        # Messages are written for users (one line, no secret). A request the job refuses
        # (a node that is not in the inventory, a bad time) is the caller's: 422.
        if isinstance(exc, UsageError | EvidenceError):
            return error(422, str(exc))
        log.error("%s %s: %s", request.method, request.url.path, exc.for_daemon())
        return error(503, exc.for_daemon())


class Guard:
    """Outermost: bodies over 64 KiB are refused (413) before anyone reads them, and a bug
    answers 500 as one log line instead of uvicorn's traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > MAX_BODY:
            await error(413 if length.isdigit() else 400,
                        STATUS_TEXT[413] if length.isdigit() else "bad Content-Length")(scope, receive, send)
            return
        started = False
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise BodyTooLarge()
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await error(413, STATUS_TEXT[413])(scope, receive, send)
        except Exception as exc:
            log.error("%s %s: internal error: %s", scope.get("method"), scope.get("path"), type(exc).__name__)
            if not started:
                await error(500, "internal error")(scope, receive, send)


class BodyTooLarge(StarletteHTTPException):
    """An HTTPException, so that FastAPI's body parsing lets it through as it is."""

    def __init__(self) -> None:
        super().__init__(413, STATUS_TEXT[413])
