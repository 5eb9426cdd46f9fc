"""Who is asking: bearer tokens, the console's session cookie, CSRF, and the sign-in routes.

Tokens come from ``[[daemon.tokens]]`` (only their SHA-256 digests are held) and are compared
in constant time. Signing in with a token at ``POST /signin`` opens a server-side session
(a random id in an HttpOnly, SameSite=Strict cookie, Secure under TLS) that ends after
``[daemon] session_idle`` without a request (8 h) or ``session_max`` after sign-in (12 h),
at ``POST /signout``, when the daemon restarts, or when its token leaves the configuration.
Each session has a CSRF token that every state-changing page request must carry. With
``auth = "none"`` (loopback only) everyone is the operator ``local``, and a per-process CSRF
token still guards the forms. Wrong tokens are counted per client address
(:mod:`backup_agent.web.ratelimit`): past ten in five minutes, that address gets 429.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from backup_agent.web.ratelimit import TooManyFailures
from backup_agent.web.sessions import Principal, Session, authenticate
from backup_agent.web.state import WebState

__all__ = ["Principal", "TooManyFailures", "api_operator", "api_viewer", "check_csrf",
           "csrf_token", "page_operator", "page_viewer", "router"]

SESSION_COOKIE = "backup_agent_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class Unauthenticated(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignInFirst(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def _principal(request: Request) -> Principal:
    """The request's principal; Unauthenticated with the reason otherwise."""
    state = web_state(request)
    web = state.config.service.daemon.web
    header = request.headers.get("authorization")
    if web.auth == "none":  # loopback only: a header is not needed, nor refused
        scheme, _, token = (header or "").partition(" ")
        found = authenticate(web, token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        return found or Principal("local", "operator", "none")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be \"Bearer TOKEN\"")
        state.failures.check(client_address(request))
        found = authenticate(web, token.strip())
        if found is None:
            state.failures.failed(client_address(request))
            raise Unauthenticated("wrong token")
        return found
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        session = state.sessions.get(sid, web, state.now())
        if session is None:
            raise Unauthenticated("the session expired or ended; sign in again")
        request.state.session = session
        return session.principal
    if not web.tokens:
        raise Unauthenticated("no token is configured: add [[daemon.tokens]] to agent.toml")
    raise Unauthenticated("a token is required (Authorization: Bearer TOKEN)")


def client_address(request: Request) -> str:
    """Where the request came from, as the rate limit counts it."""
    return request.client.host if request.client else "?"


def api_viewer(request: Request) -> Principal:
    principal = _principal(request)
    request.state.principal = principal
    return principal


def api_operator(request: Request, principal: Annotated[Principal, Depends(api_viewer)]) -> Principal:
    if not principal.operator:
        raise HTTPException(403, f"token {principal.name!r} is a viewer: triggering runs needs an operator")
    if principal.via == "session":
        check_csrf(request, request.headers.get(CSRF_HEADER))
    elif principal.via == "none" and not _json_body(request):
        # No credentials to steal, but a cross-site form could post here: it cannot send JSON.
        raise HTTPException(415, "a trigger takes an application/json body ({})")
    return principal


def _json_body(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


def page_viewer(request: Request) -> Principal:
    try:
        return api_viewer(request)
    except Unauthenticated:
        if request.headers.get("authorization") is not None:
            raise  # a script's wrong token is a 401, not a page to sign in on
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInFirst(target) from None


def page_operator(request: Request, principal: Annotated[Principal, Depends(page_viewer)]) -> Principal:
    if not principal.operator:
        raise HTTPException(403, f"token {principal.name!r} is a viewer: triggering runs needs an operator")
    return principal


def csrf_token(request: Request) -> str:
    """The token a page's forms carry (the request must have passed a page dependency)."""
    session: Session | None = getattr(request.state, "session", None)
    if session is not None:
        return session.csrf
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None and principal.via == "none":
        return str(web_state(request).sessions.none_csrf)
    return ""  # bearer: a script's header cannot be forged by another site, no token needed


def check_csrf(request: Request, token: str | None) -> None:
    """403 unless ``token`` (a form field, else the X-CSRF-Token header) is the session's."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None and principal.via == "token":
        return
    expected = csrf_token(request)
    given = token or request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(403, "the CSRF token is missing or wrong; reload the page")


def safe_next(target: str | None) -> str:
    """Only a path of this site: never ``//host`` or ``https://host`` (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


router = APIRouter(include_in_schema=False)


@router.get("/signin")
def signin_page(request: Request, next: str = "/") -> Response:
    from backup_agent.web.templating import render

    return render(request, "signin.html", next=safe_next(next), error=None)


@router.post("/signin")
def signin(request: Request, token: Annotated[str, Form(max_length=4096)] = "",
           next: Annotated[str, Form(max_length=2048)] = "/") -> Response:
    from backup_agent.web.templating import render

    state = web_state(request)
    try:
        state.failures.check(client_address(request))
    except TooManyFailures as exc:
        refused = render(request, "signin.html", status_code=429, next=safe_next(next),
                         error=f"Too many wrong tokens from this address. Try again in "
                               f"{exc.retry_after} s.")
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    principal = authenticate(state.config.service.daemon.web, token.strip()) if token.strip() else None
    if principal is None:
        state.failures.failed(client_address(request))
        return render(request, "signin.html", status_code=401, next=safe_next(next),
                      error="That token is not valid.")
    sid, _ = state.sessions.open(principal, state.now())
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", secure=state.tls,
                        path="/", max_age=int(state.config.service.daemon.web.session_max.total_seconds()))
    return response


@router.post("/signout")
def signout(request: Request, principal: Annotated[Principal, Depends(page_viewer)],
            csrf_token: Annotated[str | None, Form(max_length=256)] = None) -> Response:
    check_csrf(request, csrf_token)
    if (sid := request.cookies.get(SESSION_COOKIE)) is not None:
        web_state(request).sessions.close(sid)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=web_state(request).tls)
    return response


def redirect_to_signin(next_path: str) -> Response:
    return RedirectResponse(f"/signin?next={quote(safe_next(next_path), safe='/')}", status_code=303)
