"""The Compute Engine API session behind :mod:`providers.gcp`: credentials, REST clients that
share one endpoint, SDK errors mapped onto the contract's typed errors, and operation waits.

google-cloud-compute is imported inside the functions only, so importing this module (or the
registry) costs nothing until a GCP provider is used.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from providers.base import (
    AuthFailed,
    InUse,
    NotFound,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    TaskFailed,
    Unreachable,
)
from providers.retry import SDK_BACKOFF

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/compute"]
CLEANUP_TIMEOUT = 120.0
READS = frozenset({"get", "list", "wait"})


def last(link: str) -> str:
    """The last path segment of a resource URL (its name)."""
    return link.rstrip("/").rsplit("/", 1)[-1]


def one_line(text: object) -> str:
    """API messages may span lines; errors here are one line."""
    return " ".join(str(text).split())


def credentials(settings: Mapping[str, Any]) -> Any:
    """Credentials from the settings, in the order the module docstring of gcp.py gives."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.oauth2 import credentials as oauth2
    from google.oauth2 import service_account

    if settings.get("access_token"):
        return oauth2.Credentials(token=settings["access_token"])
    if settings.get("credentials"):
        try:
            info = json.loads(settings["credentials"])
            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        except (ValueError, KeyError) as exc:  # never echo the content: it holds a private key
            raise ProviderConfigError("gcp: credentials is not a service-account JSON key") from exc
    if path := settings.get("credentials_file"):
        try:
            return service_account.Credentials.from_service_account_file(path, scopes=SCOPES)
        except (OSError, ValueError, KeyError) as exc:
            raise ProviderConfigError(f"gcp: cannot read a service-account key from {path}") from exc
    if settings.get("anonymous"):
        return AnonymousCredentials()
    try:
        creds, _ = google.auth.default(scopes=SCOPES)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise AuthFailed("gcp: no Application Default Credentials; set credentials_file "
                         "or run 'gcloud auth application-default login'") from exc
    return creds


class ComputeApi:
    """REST clients of one project, built lazily with the same credentials and endpoint."""

    def __init__(self, project: str, settings: Mapping[str, Any], timeout: float) -> None:
        self.project = project
        self.timeout = timeout
        self.settings = settings
        self.endpoint: str | None = settings.get("api_endpoint") or None
        self._clients: dict[str, Any] = {}
        self._creds: Any = None

    def client(self, kind: str) -> Any:
        """The ``compute_v1.<kind>`` client (e.g. ``"DisksClient"``)."""
        if kind not in self._clients:
            from google.cloud import compute_v1

            if self._creds is None:
                self._creds = credentials(self.settings)
            opts = {"api_endpoint": self.endpoint} if self.endpoint else None
            self._clients[kind] = getattr(compute_v1, kind)(
                credentials=self._creds, transport="rest", client_options=opts)
        return self._clients[kind]

    def call(self, what: str, method: str, deadline: float | None = None, **kw: Any) -> Any:
        """``<Client>.<method>(**kw)`` bounded by ``deadline`` (monotonic; default: timeout).

        Reads are retried on 503/429 until the deadline; writes never are (a retried
        insert could make a second resource). A list is read to the end, page by page.
        """
        from google.api_core import exceptions as gexc
        from google.api_core import retry as gretry

        kind, name = method.split(".")
        budget = self.timeout if deadline is None else deadline - time.monotonic()
        if budget <= 0:
            raise ProviderTimeout(f"gcp: {what}: no time left")
        retry = None
        if name in READS:
            busy = gretry.if_exception_type(gexc.ServiceUnavailable, gexc.TooManyRequests)
            retry = gretry.Retry(initial=SDK_BACKOFF.base, maximum=SDK_BACKOFF.cap, multiplier=2.0,
                                 timeout=budget, predicate=busy)
        with self.calling(what):
            result = getattr(self.client(kind), name)(**kw, retry=retry, timeout=budget)
            return list(result) if name == "list" else result

    @contextmanager
    def calling(self, what: str) -> Iterator[None]:
        """Turn SDK and transport errors raised inside into the contract's typed errors."""
        import requests
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc
        from google.protobuf import json_format

        try:
            yield
        except ProviderError:
            raise
        except gexc.NotFound as exc:
            detail = one_line(exc.message)
            raise NotFound(f"gcp: {what}: not found in project {self.project} ({detail})") from exc
        except (gexc.Unauthorized, gexc.Forbidden, auth_exc.GoogleAuthError) as exc:
            # a 401 surfaces as a refresh error of google-auth; its text may quote the token
            raise AuthFailed(f"gcp: {what}: credentials refused ({type(exc).__name__})") from exc
        except gexc.BadRequest as exc:
            if "resourceInUseByAnotherResource" in str(exc.errors):
                raise InUse(f"gcp: {what}: still in use ({one_line(exc.message)})") from exc
            raise ProviderError(f"gcp: {what}: {one_line(exc.message)}") from exc
        except gexc.RetryError as exc:
            cause = exc.cause if isinstance(exc.cause, gexc.GoogleAPICallError) else None
            if cause is not None and cause.code == 503:
                raise Unreachable(f"gcp: {what}: service unavailable until the timeout "
                                  f"({one_line(cause.message)})") from exc
            raise ProviderTimeout(f"gcp: {what}: no answer in time ({one_line(exc.message)})") from exc
        except gexc.GoogleAPICallError as exc:
            raise ProviderError(f"gcp: {what}: HTTP {exc.code}: {one_line(exc.message)}") from exc
        except requests.exceptions.Timeout as exc:
            raise ProviderTimeout(f"gcp: {what}: no answer from the API in time") from exc
        except requests.exceptions.RequestException as exc:
            where = self.endpoint or "compute.googleapis.com"
            raise Unreachable(f"gcp: {what}: cannot reach {where} ({type(exc).__name__})") from exc
        except (json_format.ParseError, ValueError) as exc:
            # e.g. a proxy's login page: the SDK's parse error would escape untyped
            where = self.endpoint or "compute.googleapis.com"
            raise Unreachable(f"gcp: {what}: {where} answered something that is not the Compute "
                              f"Engine API ({type(exc).__name__}); check api_endpoint") from exc

    def wait(self, op: Any, deadline: float, what: str) -> Any:
        """Wait for ``op`` until ``deadline`` (monotonic); TaskFailed when it ends in error.

        Waits with our own operations clients: ExtendedOperation.result() would poll the
        public endpoint, ignoring ``api_endpoint``.
        """
        from google.cloud import compute_v1

        done = compute_v1.Operation.Status.DONE
        while op.status != done:
            if deadline <= time.monotonic():
                raise ProviderTimeout(f"gcp: {what}: operation {op.name} not done in time")
            try:
                op = self._wait_once(op, deadline, what)
            except ProviderTimeout as exc:  # the HTTP call ran out of time before the wait did
                raise ProviderTimeout(f"gcp: {what}: operation {op.name} not done in time") from exc
        if op.error and op.error.errors:
            err = op.error.errors[0]
            raise TaskFailed(f"gcp: {what}: operation {op.name} failed: {err.code}: {one_line(err.message)}")
        return op

    def _wait_once(self, op: Any, deadline: float, what: str) -> Any:
        if op.zone:
            return self.call(what, "ZoneOperationsClient.wait", deadline,
                             project=self.project, zone=last(op.zone), operation=op.name)
        return self.call(what, "GlobalOperationsClient.wait", deadline,
                         project=self.project, operation=op.name)

    def remove(self, kind: str, method: str, names: list[str], field: str, **kw: Any) -> list[str]:
        """Best-effort removal after a failure: ``method(field=name, **kw)`` for each name,
        waited on; returns the names left over."""
        deadline, left = time.monotonic() + min(self.timeout, CLEANUP_TIMEOUT), []
        for name in names:
            try:
                op = self.call(f"deleting {kind} {name}", method, deadline, **{field: name}, **kw)
                self.wait(op, deadline, f"deleting {kind} {name}")
            except NotFound:
                continue
            except ProviderError as exc:
                log.warning("%s", exc)
                left.append(name)
        return left
