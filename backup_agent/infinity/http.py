"""The HTTP layer of the Management Node client: session, auth, retries, the concurrency bound,
and the mapping of everything that can go wrong onto ``backup_agent.errors``.

Every message names the deployment and says what to check; none carries a secret. Known
secrets (password, tokens, passphrases handed to :meth:`Transport.add_secret`) are scrubbed
from anything quoted back from the server.
"""

from __future__ import annotations

import base64
import logging
import random
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from backup_agent.config import Deployment
from backup_agent.errors import ApiError, AuthError, ConnectError
from backup_agent.infinity import oauth
from backup_agent.untrusted import untrusted_json
from providers.retry import RETRY_AFTER_STATUSES, Backoff, Poll, parse_retry_after

log = logging.getLogger("backup_agent.infinity")

API_ROOT = "/api/admin/"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5  # seconds before the first retry; doubles each time
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0  # a server asking for longer than this is not waited for in full
# Bounds on what a Management Node can make the agent do (a hostile or broken node included):
MAX_ANSWER_BYTES = 64 << 20  # one decoded API answer; a gzip bomb stops here
MAX_ERROR_BYTES = 64 << 10  # an error answer's body, read only to quote 200 characters of it
READ_CHUNK = 64 << 10
REQUEST_DEADLINE = 600.0  # seconds for one whole answer, however slowly it trickles in
DOWNLOAD_MIN_RATE = 64 << 10  # bytes/s a download may not fall below on average
# bytes/s an API answer may not fall below on average once it has had the client's timeout:
# a page of 500 rooms trickled at 200 bytes a second each read within the timeout, and took
# the whole 600 s (a plan on a P1 call waited ten minutes for one probe).
ANSWER_MIN_RATE = 16 << 10
LOOPBACK = ("localhost", "127.0.0.1", "::1")

Body = Callable[[], Any]  # builds a fresh request body for each attempt (streams are one-shot)


class Transport:
    """One ``requests.Session`` per deployment, shared by every thread using the client.

    ``sleep``, ``clock`` (monotonic) and ``wallclock`` (epoch, for ``Retry-After`` dates and
    JWT claims) are parameters so tests run fast and deterministic.
    """

    def __init__(self, deployment: Deployment, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = random.random) -> None:
        self.deployment = deployment
        self.name = deployment.name
        self.origin = deployment.url.rstrip("/")
        self.base_url = self.origin + API_ROOT
        self.retries = deployment.retries
        self.timeout = deployment.timeout
        self.sleep = sleep
        self.clock = clock
        self.wallclock = wallclock
        # The one retry policy (providers/retry.py), with this client's sleep and jitter.
        self.backoff = Backoff(retries=deployment.retries, base=BACKOFF_BASE, cap=BACKOFF_CAP,
                               retry_after_cap=RETRY_AFTER_CAP, sleep=sleep, jitter=jitter)
        self._slot = threading.BoundedSemaphore(deployment.max_concurrency)
        self._secrets: list[str] = []
        self._secrets_lock = threading.Lock()
        self.origin_key = origin_of(self.origin)
        self.session = _OnTheNode(self._check_origin)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=deployment.max_concurrency + 2)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "backup-agent"
        if not deployment.verify_tls:
            log.warning("deployment %s: verify_tls = false: the TLS certificate of %s is NOT "
                        "verified (use ca_bundle for a private CA)", self.name, self.origin)
            # Said once per client above; urllib3 would otherwise repeat it on every request.
            # Only for this host: every other client of the process keeps its warnings.
            warnings.filterwarnings(
                "ignore", category=urllib3.exceptions.InsecureRequestWarning,
                message=f".*{re.escape(repr(self.origin_key[1]))}")
        if self.origin_key[0] == "http" and self.origin_key[1] not in LOOPBACK:
            log.warning("deployment %s: url is http:// to %s: the credentials cross the network "
                        "in clear; use https://", self.name, self.origin_key[1])
        # Passed on every request: a session-level verify loses to $REQUESTS_CA_BUNDLE.
        self.verify: bool | str = deployment.verify_tls and (deployment.ca_bundle or True)
        self._tokens: oauth.TokenCache | None = None
        if deployment.client_id:
            self._tokens = oauth.TokenCache(self._fetch_token, clock)
            self.auth_hint = "check client_id and private_key_file"
        else:
            if deployment.password is None:
                raise ApiError(f"deployment {self.name}: no password and no client_id configured")
            password = deployment.password.value()
            self.add_secret(password)
            # What a proxy echoing the Authorization header would quote back.
            self.add_secret(base64.b64encode(f"{deployment.username}:{password}".encode()).decode())
            self.session.auth = _Basic(deployment.username, password)
            where = "password_file" if deployment.password.file else "password_env"
            self.auth_hint = f"check username and {where}"

    # -- secrets -------------------------------------------------------------------------
    def add_secret(self, value: str | None) -> None:
        """Remember a secret so it is scrubbed from any text quoted back from the server."""
        if value and len(value) >= 3:
            with self._secrets_lock:
                if value not in self._secrets:
                    self._secrets.append(value)

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        secrets = list(self._secrets) + (self._tokens.known() if self._tokens else [])
        for s in secrets:
            text = text.replace(s, "***")
        return text

    # -- URLs ----------------------------------------------------------------------------
    def url_for(self, path: str) -> str:
        """Absolute URL for an API-relative path, a server path (``/api/...``) or a same-origin URL.

        ``meta.next``, ``Location``, ``resource_uri`` and ``download_uri`` come from the node:
        a link to another origin (compared parsed and normalised: ``HTTP://``, a leading space
        or tab, ``//host``, another port) is refused so the credentials never leave the node.
        """
        if not isinstance(path, str) or any(c.isspace() or not c.isprintable() for c in path):
            raise ApiError(f"deployment {self.name}: the Management Node gave a link with "
                           f"spaces or control characters ({_short(repr(path))}); refusing it")
        url = urljoin(self.base_url, path)
        self._check_origin(url)
        return url

    def _check_origin(self, url: str) -> None:
        try:
            other = origin_of(url)
        except ValueError:
            other = ("?", "?", 0)
        if other != self.origin_key:
            raise ApiError(f"deployment {self.name}: the Management Node pointed to another "
                           f"host ({_short(other[0] + '://' + other[1])}); refusing to follow it")

    # -- requests ------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, body: Body | None = None, headers: dict[str, str] | None = None,
                expect: tuple[int, ...] = (200,), timeout: float | None = None) -> requests.Response:
        """Send one request (retried as configured) and return the fully read response.

        The answer is read within ``MAX_ANSWER_BYTES`` decoded and ``REQUEST_DEADLINE``.
        """
        url = self.url_for(path)
        what = f"{method} {_short(path)}"
        attempt = 0
        while True:
            resp = self._send(method, url, params=params, json=json, body=body,
                              headers=headers, expect=expect, timeout=timeout, stream=True)
            try:
                started = self.clock()
                resp._content = b"".join(self.read_chunks(
                    resp, MAX_ANSWER_BYTES, started + REQUEST_DEADLINE, what,
                    min_rate=ANSWER_MIN_RATE))
                resp._content_consumed = True  # type: ignore[attr-defined]
                return resp
            except requests.exceptions.RequestException as exc:
                # The connection broke mid-answer (cut, or silent past the timeout): a GET is
                # asked again as a refused connection would be; a write may have happened.
                if method != "GET" or self.backoff.exhausted(attempt):
                    raise ApiError(f"deployment {self.name}: {what}: the answer was cut off "
                                   f"mid-body ({self._connect_reason(exc)}, retried {attempt} "
                                   f"times)") from None
            finally:
                resp.close()
                self._slot.release()
            self.backoff.pause(attempt)
            attempt += 1

    def read_chunks(self, resp: requests.Response, limit: int, deadline: float,
                    what: str, cut: bool = False, min_rate: float | None = None) -> Iterator[bytes]:
        """The decoded body of ``resp`` chunk by chunk; an ApiError past ``limit`` bytes (or,
        with ``cut``, just its first ``limit`` bytes), past the monotonic ``deadline`` (a
        node trickling a byte a second is not waited for), or, with ``min_rate``, once it
        arrives slower than that on average after the client's timeout."""
        total = 0
        read = getattr(resp.raw, "read1", None) or resp.raw.read
        start = self.clock()
        while True:
            self.check_deadline(deadline, what, total)
            if min_rate is not None:
                # The deadline the bytes read so far earn: the timeout, plus their time at min_rate.
                self.check_deadline(start + self.timeout + total / min_rate, what, total,
                                    f", under {min_rate / 1024:.0f} KiB/s on average")
            try:
                chunk = read(READ_CHUNK, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise requests.exceptions.ConnectionError(exc) from exc
            if not chunk:
                return
            total += len(chunk)
            if total > limit and cut:
                yield chunk[:len(chunk) - (total - limit)]
                return
            if total > limit:
                raise ApiError(f"deployment {self.name}: {what} answered more than {limit} "
                               f"bytes; refusing the rest")
            yield chunk

    def check_deadline(self, deadline: float, what: str, total: int, why: str = "") -> None:
        """An ApiError once the monotonic ``deadline`` has passed with ``what`` still arriving."""
        if self.clock() > deadline:
            raise ApiError(f"deployment {self.name}: {what} was still arriving after its "
                           f"deadline ({total} bytes read{why}): the Management Node or the "
                           f"network is far too slow")

    @contextmanager
    def stream(self, method: str, path: str, *, params: dict[str, Any] | None = None,
               json: Any = None, expect: tuple[int, ...] = (200,)) -> Iterator[requests.Response]:
        """A streamed response; its concurrency slot is held until the block ends."""
        resp = self._send(method, self.url_for(path), params=params, json=json, body=None,
                          headers=None, expect=expect, timeout=None, stream=True)
        try:
            yield resp
        finally:
            resp.close()
            self._slot.release()

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` and decode its JSON answer."""
        return self.decode(self.request("GET", path, params=params), path)

    def decode(self, resp: requests.Response, what: str) -> Any:
        """The JSON of ``resp``; HTML or broken JSON becomes an ApiError saying so."""
        ctype = resp.headers.get("Content-Type", "").lower()
        raw = resp.content
        head = raw[:200].lstrip().lower()
        if "html" in ctype or head.startswith((b"<!doctype", b"<html", b"<")):
            raise ApiError(f"deployment {self.name}: {self.origin} answered HTML, not JSON, for "
                           f"{_short(what)}: is url the Management Node?")
        try:
            return untrusted_json(raw)
        except ValueError:  # also NaN, Infinity, deep nesting, integers of 4,300+ digits
            raise ApiError(f"deployment {self.name}: {self.origin} answered malformed JSON for "
                           f"{_short(what)} (HTTP {resp.status_code}): is url the Management "
                           f"Node, and is a proxy in between rewriting answers?") from None

    def poll(self, interval: float) -> Poll:
        """Looks every ``interval`` seconds at a task in progress (a backup request)."""
        return Poll(first=interval, factor=1.0, ceiling=interval, sleep=self.sleep, clock=self.clock)

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    # -- the retry loop ------------------------------------------------------------------
    def _send(self, method: str, url: str, *, params: dict[str, Any] | None, json: Any,
              body: Body | None, headers: dict[str, str] | None, expect: tuple[int, ...],
              timeout: float | None, stream: bool, auth: bool = True) -> requests.Response:
        attempt = 0
        refreshed = False
        what = f"{method} {_short(urlsplit(url).path)}"
        while True:
            hdrs = dict(headers or {})
            token = self._tokens.get() if (auth and self._tokens) else None
            if token:
                hdrs["Authorization"] = f"Bearer {token}"
            self._slot.acquire()
            keep_slot = False
            try:
                try:
                    resp = self.session.request(
                        method, url, params=params, json=json,
                        data=body() if body is not None else None, headers=hdrs,
                        timeout=timeout or self.timeout, stream=stream, verify=self.verify,
                        auth=None if (auth and not token) else _NoAuth(),
                    )
                except requests.exceptions.SSLError as exc:
                    raise ConnectError(self._tls_message(exc)) from None
                except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                    failure = self._connect_reason(exc)
                    status = None
                    retry_after = None
                else:
                    status = resp.status_code
                    if status in expect:
                        keep_slot = stream
                        return resp
                    with suppress(requests.exceptions.RequestException, OSError, ApiError):
                        # The start of an error body, to quote; never all of a hostile one.
                        resp._content = b"".join(self.read_chunks(
                            resp, MAX_ERROR_BYTES, self.clock() + (timeout or self.timeout),
                            what, cut=True))
                    resp._content = resp._content or b""
                    resp._content_consumed = True  # type: ignore[attr-defined]
                    resp.close()
                    retry_after = resp.headers.get("Retry-After")
                    failure = f"HTTP {status}"
            finally:
                if not keep_slot:
                    self._slot.release()
            if status == 401 and token and not refreshed:
                # A token can be revoked or expire early: fetch a new one, once.
                assert self._tokens is not None
                self._tokens.invalidate(token)
                refreshed = True
                continue
            if status in (401, 403):
                raise AuthError(f"deployment {self.name}: the Management Node refused the "
                                f"credentials (HTTP {status}): {self.auth_hint}")
            if status is not None and status not in RETRY_STATUSES:
                raise ApiError(self._status_message(what, resp))
            if self.backoff.exhausted(attempt):
                if status is None:
                    raise ConnectError(
                        f"deployment {self.name}: cannot reach {self.origin} ({failure}, retried "
                        f"{attempt} times): check url and that the Management Node is up and "
                        f"reachable from here")
                raise ApiError(f"deployment {self.name}: {what} kept failing with {failure} "
                               f"(retried {attempt} times): the Management Node is overloaded "
                               f"or failing; try again later")
            asked = (parse_retry_after(retry_after, self.wallclock())
                     if retry_after and status in RETRY_AFTER_STATUSES else None)
            if asked is not None and asked > RETRY_AFTER_CAP:
                raise ApiError(f"deployment {self.name}: {what} answered {failure} and asks to "
                               f"wait {asked:.0f} s (more than {RETRY_AFTER_CAP:.0f}): the "
                               "Management Node is overloaded; try again later")
            delay = self.backoff.delay(attempt, asked)
            log.warning("deployment %s: %s failed (%s); retry %d of %d in %.1f s", self.name,
                        what, failure, attempt + 1, self.retries, delay)
            self.sleep(delay)
            attempt += 1

    def _fetch_token(self) -> dict[str, Any]:
        dep = self.deployment
        assert dep.client_id and dep.private_key
        key = oauth.load_private_key(dep.private_key.value(), dep.private_key.label)
        token_url = self.origin + "/oauth/token/"
        form = oauth.token_form(dep.client_id, key, token_url, self.wallclock())
        resp = self._send("POST", token_url, params=None, json=None, body=lambda: form,
                          headers=None, expect=(200, 400, 401, 403), timeout=None, stream=False,
                          auth=False)
        if resp.status_code != 200:
            raise AuthError(f"deployment {self.name}: the Management Node refused the OAuth2 "
                            f"client credentials (HTTP {resp.status_code}): check client_id and "
                            f"private_key_file (and that the client is registered)")
        answer = self.decode(resp, "/oauth/token/")
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            raise ApiError(f"deployment {self.name}: the OAuth2 token answer has no access_token: "
                           f"is url the Management Node?")
        self.add_secret(answer["access_token"])
        return answer

    # -- messages ------------------------------------------------------------------------
    def _connect_reason(self, exc: Exception) -> str:
        text = str(exc)
        if isinstance(exc, requests.exceptions.Timeout):
            why = f"no answer within {self.timeout:g} s"
        elif "refused" in text.lower():
            why = "connection refused"
        elif any(s in text for s in ("Name or service not known", "getaddrinfo", "nodename",
                                     "Temporary failure in name resolution", "NameResolution")):
            why = "host name not found"
        elif "timed out" in text.lower():
            why = f"no data within {self.timeout:g} s"
        elif "IncompleteRead" in text or "Connection broken" in text:
            why = "connection closed before the end of the answer"
        elif "reset" in text.lower() or "aborted" in text.lower():
            why = "connection reset"
        else:
            why = "connection failed"
        return why

    def _tls_message(self, exc: Exception) -> str:
        text = str(exc)
        if "mismatch, certificate is not valid for" in text:  # trusted, but for another name
            return (f"deployment {self.name}: TLS to {self.origin}: the certificate is not for "
                    "this host (hostname mismatch): url must use a name or address the "
                    "certificate lists")
        why = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in text else "TLS failed"
        hint = ("check that ca_bundle is the CA that signed it" if self.deployment.ca_bundle
                else "set ca_bundle to the CA that signed it (verify_tls = false only for labs)")
        return f"deployment {self.name}: TLS to {self.origin}: {why}: {hint}"

    def _status_message(self, what: str, resp: requests.Response) -> str:
        detail = ""
        ctype = resp.headers.get("Content-Type", "").lower()
        if "html" in ctype:
            detail = " (an HTML page): is url the Management Node?"
        elif "json" in ctype and resp.content:
            # Scrub before cutting: a secret split at the cut would slip through.
            text = self.scrub(resp.content[:65536].decode("utf-8", "replace"))
            detail = ": " + " ".join(text.split())[:200]
        return (f"deployment {self.name}: {what} answered HTTP {resp.status_code} "
                f"{resp.reason or ''}".rstrip() + detail)


def origin_of(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``url``, normalised: case, default ports, IPv6 brackets."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (parts.hostname or "").lower().rstrip("."), port


class _OnTheNode(requests.Session):
    """A session that follows no redirect off the node: a 307/308 would re-send the body (the
    backup passphrase) and the credentials to whatever host the ``Location`` names."""

    def __init__(self, check: Callable[[str], None]) -> None:
        super().__init__()
        self._check = check

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            self._check(urljoin(resp.url, target.strip()))
        return target


class _Basic(requests.auth.AuthBase):
    """Basic auth in UTF-8 (requests encodes Latin-1: a '€' in the password crashed every call)."""

    def __init__(self, username: str, password: str) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._header = f"Basic {token}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self._header
        return r


class _NoAuth(requests.auth.AuthBase):
    """Sends no Authorization from the session (a bearer token or the token request itself)."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


def _short(path: str) -> str:
    """A path without query string, shortened for a message."""
    path = path.split("?", 1)[0]
    return path if len(path) <= 80 else path[:77] + "..."
