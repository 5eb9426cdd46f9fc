"""Principals, the server-side session table and the token check; no web framework here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime

from backup_agent.daemon.web_settings import WebSettings


@dataclass(frozen=True)
class Principal:
    name: str
    role: str  # viewer | operator
    via: str = "token"  # token | session | none

    @property
    def operator(self) -> bool:
        return self.role == "operator"

    @property
    def actor(self) -> str:
        """What the catalog records as the starter of a run."""
        return "web:local" if self.via == "none" else f"token:{self.name}"


@dataclass
class Session:
    principal: Principal
    csrf: str
    created: datetime
    seen: datetime


class Sessions:
    """The server-side session table, in memory: keyed by the SHA-256 of the cookie's id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._table: dict[bytes, Session] = {}
        self.none_csrf = secrets.token_urlsafe(32)  # the forms' token under auth = "none"

    def open(self, principal: Principal, now: datetime) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(Principal(principal.name, principal.role, "session"),
                          secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._table[_digest(sid)] = session
        return sid, session

    def get(self, sid: str, web: WebSettings, now: datetime) -> Session | None:
        """The live session of ``sid`` (its idle clock restarted), or None when it ended."""
        with self._lock:
            session = self._table.get(_digest(sid))
            if session is None:
                return None
            if now - session.seen > web.session_idle or now - session.created > web.session_max \
                    or not _still_configured(session.principal, web):
                del self._table[_digest(sid)]
                return None
            session.seen = now
            return session

    def close(self, sid: str) -> None:
        with self._lock:
            self._table.pop(_digest(sid), None)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _still_configured(principal: Principal, web: WebSettings) -> bool:
    """A reload that drops a token (or changes its role) ends the sessions it opened."""
    return any(t.name == principal.name and t.role == principal.role for t in web.tokens)


def authenticate(web: WebSettings, token: str) -> Principal | None:
    """The token's principal; every configured digest is compared, in constant time."""
    given = _digest(token)
    found: Principal | None = None
    for spec in web.tokens:
        if hmac.compare_digest(given, spec.digest):
            found = Principal(spec.name, spec.role)
    return found
