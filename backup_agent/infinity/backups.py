"""Configuration backups: create (both flows), list, download with verification, restore, delete.

Two readings of the API are unconfirmed and both are handled (see infinity-api.md):
``backup_create`` may answer 200 or 202, and the file may be served by the ``system_backup``
item's ``resource_uri`` or by the ``download_uri`` of a ``backup_request``.

A download writes into a :class:`~backup_agent.infinity.streams.RestartableSink` (a store's
sink, or a file through ``FileSink``). A download cut half-way is started again from the
beginning: the sink is restarted first. When the download fails for good the sink is left
restarted (empty), so nothing half-written looks like a backup. An error raised by the sink
itself (disk full) propagates unchanged. An upload reads a ``Package`` (name, size, and a
fresh stream per attempt), never a local path.
"""

from __future__ import annotations

import dataclasses
import http.client
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, unquote

import requests
import urllib3

from backup_agent.errors import ApiError, IntegrityError
from backup_agent.infinity.http import DOWNLOAD_MIN_RATE, Transport
from backup_agent.infinity.listing import list_concurrent
from backup_agent.infinity.streams import MultipartBody, Package, RestartableSink, Sha256Pipe
from backup_agent.untrusted import unsafe_char

BACKUP_LIST = "configuration/v1/system_backup/"
BACKUP_CREATE = "command/v1/platform/backup_create/"
BACKUP_RESTORE = "command/v1/platform/backup_restore/"
BACKUP_REQUESTS = "status/v1/backup_request/"
CHUNK = 1024 * 1024
DONE_STATES = frozenset({"done", "completed", "complete", "success", "succeeded", "finished"})
FAILED_STATES = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled",
                           "aborted"})
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")

Progress = Callable[[int, int], None]  # (bytes done, bytes expected)


@dataclass(frozen=True)
class BackupInfo:
    """One entry of ``configuration/v1/system_backup/``; ``download_uri`` when a request gave one."""

    filename: str
    date: str | None
    size: int
    sha256sum: str | None
    version: str | None
    build: str | None
    resource_uri: str
    download_uri: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, obj: dict[str, Any], deployment: str) -> BackupInfo:
        """Build from an API object; a missing filename or an unusable size is an ApiError."""
        name, size = obj.get("filename"), obj.get("size")
        if isinstance(size, str) and size.isdigit():
            size = int(size)
        if not isinstance(name, str) or not isinstance(size, int) or isinstance(size, bool):
            raise ApiError(f"deployment {deployment}: a system_backup entry has no usable "
                           f"filename/size: is url the Management Node?")
        uri = obj.get("resource_uri")
        if not isinstance(uri, str) or not uri:
            uri = f"/api/admin/{BACKUP_LIST}{quote(name, safe='')}/"
        sha = obj.get("sha256sum")
        known = {"filename", "date", "size", "sha256sum", "version", "build", "resource_uri"}
        return cls(filename=name, date=_opt_str(obj.get("date")), size=size,
                   sha256sum=sha.lower() if isinstance(sha, str) and sha else None,
                   version=_opt_str(obj.get("version")), build=_opt_str(obj.get("build")),
                   resource_uri=uri, extra={k: v for k, v in obj.items() if k not in known})


@dataclass(frozen=True)
class BackupHandle:
    """What ``create_backup`` started: the backups that existed before, and the request if any."""

    known: frozenset[str]
    request_uri: str | None = None
    download_uri: str | None = None
    state: str = "created"
    message: str | None = None


def check_filename(name: str, deployment: str) -> str:
    """``name`` if it is safe as one file name; else an ApiError (path tricks, control chars)."""
    if not name or name in (".", "..") or ".." in name or _BAD_NAME.search(name) \
            or unsafe_char(name) is not None or len(name) > 255:
        raise ApiError(f"deployment {deployment}: refusing backup filename {name[:100]!r} from "
                       "the Management Node: it contains '/', '\\', '..' or control, format or "
                       "direction characters, or is longer than 255")
    return name


def list_backups(transport: Transport, page_size: int = 500) -> list[BackupInfo]:
    """Every backup the Management Node holds, oldest first as the API lists them."""
    objs = list_concurrent(transport, BACKUP_LIST, page_size=page_size,
                           workers=transport.deployment.max_concurrency)
    return [BackupInfo.from_api(o, transport.name) for o in objs]


def create_backup(transport: Transport, passphrase: str, *, background: bool = False,
                  timeout: float = 900.0, poll_interval: float = 2.0) -> BackupHandle:
    """Ask for a new config backup encrypted with ``passphrase``.

    ``background=True`` runs it as a background request (``request: true``) and polls
    ``status/v1/backup_request/`` until it is done or failed (ApiError with its ``message``),
    at most ``timeout`` seconds. Either way the handle tells :func:`find_new_backup` which
    backups are new.
    """
    if not passphrase:
        raise ApiError(f"deployment {transport.name}: an empty backup passphrase is refused")
    transport.add_secret(passphrase)
    known = frozenset(b.filename for b in list_backups(transport))
    before = _request_uris(transport) if background else set()
    body: dict[str, Any] = {"passphrase": passphrase}
    if background:
        body["request"] = True
    # A synchronous backup can take minutes on a big deployment: wait longer than for a read.
    resp = transport.request("POST", BACKUP_CREATE, json=body, expect=(200, 201, 202, 204),
                             timeout=max(transport.timeout, 300.0))
    # Either flow may point at a backup_request (Location or body): then the file's
    # download_uri comes from there, once the request is done.
    request_uri = _request_uri_from(transport, resp)
    if not background and request_uri is None:
        return BackupHandle(known=known, state="created")
    for _ in transport.poll(poll_interval).looks(timeout):
        req = _find_request(transport, request_uri, before)
        if req is not None:
            request_uri = str(req.get("resource_uri") or request_uri or "")
            state = str(req.get("state") or "").lower()
            if state in DONE_STATES:
                return BackupHandle(known=known, request_uri=request_uri or None,
                                    download_uri=_opt_str(req.get("download_uri")), state="done")
            if state in FAILED_STATES:
                msg = transport.scrub(str(req.get("message") or "no message"))
                raise ApiError(f"deployment {transport.name}: the backup request failed on the "
                               f"Management Node: {msg}")
    raise ApiError(f"deployment {transport.name}: the backup request did not finish "
                   f"within {timeout:g} s: check the Management Node's load")


def find_new_backup(transport: Transport, handle: BackupHandle, *, timeout: float = 900.0,
                    poll_interval: float = 2.0) -> BackupInfo:
    """The backup ``handle`` created, waiting until the listing shows it (at most ``timeout``)."""
    for _ in transport.poll(poll_interval).looks(timeout):
        new = [b for b in list_backups(transport) if b.filename not in handle.known]
        if new:
            chosen = _match_download(new, handle.download_uri) or max(
                new, key=lambda b: (b.date or "", b.filename))
            if handle.download_uri:
                chosen = dataclasses.replace(chosen, download_uri=handle.download_uri)
            return chosen
    raise ApiError(f"deployment {transport.name}: no new backup appeared in "
                   f"{BACKUP_LIST} within {timeout:g} s of backup_create")


def download_backup(transport: Transport, info: BackupInfo, sink: RestartableSink,
                    progress: Progress | None = None) -> tuple[int, str]:
    """Stream the backup into ``sink`` (see the module docstring), verified; ``(size, sha256)``.

    Size and sha256 are checked against the listing: a mismatch raises IntegrityError.
    """
    check_filename(info.filename, transport.name)
    source = info.download_uri or info.resource_uri
    attempts = transport.retries + 1
    last, cuts = "", 0
    while cuts < attempts:
        sink.restart()
        try:
            outcome = _download_once(transport, info, source, sink, progress)
        except _ServedElsewhere as moved:
            if moved.uri == source:
                raise ApiError(f"deployment {transport.name}: backup {info.filename} is served "
                               f"as JSON, not as a file") from None
            source = moved.uri
            continue
        if isinstance(outcome, tuple):
            return _verified(transport, info, *outcome)
        last, cuts = outcome, cuts + 1
        if cuts < attempts:
            transport.backoff.pause(cuts - 1)  # the client's one retry policy
    sink.restart()
    raise ApiError(f"deployment {transport.name}: the download of backup {info.filename} broke "
                   f"off {attempts} times ({last}): check the network path to the Management Node")


def restore_backup(transport: Transport, package: Package, passphrase: str) -> Any:
    """Upload ``package`` to ``backup_restore`` with ``passphrase``, streamed as it is read.

    Each attempt opens the package afresh: a retried upload sends it whole again.
    """
    transport.add_secret(passphrase)
    boundary = uuid.uuid4().hex
    resp = transport.request(
        "POST", BACKUP_RESTORE, expect=(200, 201, 202, 204),
        body=lambda: MultipartBody(package, passphrase, boundary),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=max(transport.timeout, 600.0),
    )
    return transport.decode(resp, BACKUP_RESTORE) if resp.content else None


def delete_backup(transport: Transport, filename: str) -> None:
    """Delete one backup on the Management Node, by filename."""
    check_filename(filename, transport.name)
    transport.request("DELETE", f"{BACKUP_LIST}{quote(filename, safe='')}/", expect=(200, 202, 204))


# -- internals -------------------------------------------------------------------------------
def _download_once(transport: Transport, info: BackupInfo, source: str, sink: RestartableSink,
                   progress: Progress | None) -> tuple[int, str] | str:
    """One attempt: ``(size, sha256)``, or why it broke off."""
    done = 0
    with transport.stream("GET", source) as resp, Sha256Pipe(CHUNK) as hasher:
        if "json" in resp.headers.get("Content-Type", "").lower() and source == info.resource_uri:
            raise _ServedElsewhere(_download_uri_for(transport, info, resp))
        declared = resp.headers.get("Content-Length")
        # Never past the listed size (one byte more proves it lies: _verified refuses it), and
        # never past a deadline that allows the listed size at DOWNLOAD_MIN_RATE.
        deadline = transport.clock() + transport.timeout + info.size / DOWNLOAD_MIN_RATE
        chunks = _body(resp, hasher, transport, info.size + 1, deadline,
                       f"the download of {info.filename}")
        while True:
            try:
                chunk, buffer = next(chunks)
            except StopIteration:
                break
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                    http.client.HTTPException, OSError) as exc:
                return f"last at {done} of {info.size} bytes: {type(exc).__name__}"
            # Every sink writes any buffer (file, BytesIO, bytearray +=); an error here (disk
            # full) is the store's to report.
            sink.write(cast(bytes, chunk))
            hasher.feed(chunk, buffer)
            done += len(chunk)
            if progress is not None:
                progress(done, info.size)
        digest = hasher.hexdigest()
    # Read through the connection, a body cut short of its Content-Length ends quietly; one
    # longer than the listed size was cut at one byte past it (and is refused by _verified).
    expected = int(declared) if declared is not None and declared.isdigit() else info.size
    expected = min(expected, info.size + 1)
    if done < expected:
        return f"last at {done} of {info.size} bytes: the connection closed early"
    return done, digest


def _body(resp: requests.Response, hasher: Sha256Pipe, transport: Transport, limit: int,
          deadline: float, what: str) -> Iterator[tuple[memoryview | bytes, bytearray | None]]:
    """The body's first ``limit`` bytes, each chunk with the hasher's buffer it views (None: a
    chunk of its own); an ApiError past the monotonic ``deadline``.

    A body sent as is (no Content-Encoding) is read straight from the connection into the
    hasher's buffers (``readinto``: no copy, no allocation per chunk, a third of the CPU of
    ``iter_content``); an encoded one through the transport's bounded reader, which decodes it.
    """
    raw = getattr(resp.raw, "_fp", None)
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity") or not isinstance(raw, http.client.HTTPResponse) \
            or not _sized(raw):
        for chunk in transport.read_chunks(resp, limit, deadline, what, cut=True):
            yield chunk, None
        return
    total = 0
    while total < limit:
        transport.check_deadline(deadline, what, total)
        buffer = hasher.buffer()
        n = _readinto1(raw, memoryview(buffer)[:limit - total])
        if not n:
            return
        total += n
        yield memoryview(buffer)[:n], buffer


def _sized(raw: http.client.HTTPResponse) -> bool:
    """An answer with a Content-Length, not chunked: :func:`_readinto1` reads it."""
    return not raw.chunked and raw.length is not None and callable(getattr(raw.fp, "readinto1", None))


def _readinto1(raw: http.client.HTTPResponse, view: memoryview) -> int:
    """What one read from the connection brings, into ``view``, within the answer's length.
    ``HTTPResponse.readinto`` would fill the whole view first: a node trickling 200 bytes a
    second held a 1 MiB buffer, and the deadline check between buffers, for 80 minutes."""
    assert raw.length is not None and raw.fp is not None
    n: int = raw.fp.readinto1(view[:raw.length])
    raw.length -= n
    return n


def _verified(transport: Transport, info: BackupInfo, size: int, digest: str) -> tuple[int, str]:
    if size != info.size:
        raise IntegrityError(f"deployment {transport.name}: backup {info.filename} arrived with "
                             f"{size} bytes, the Management Node lists {info.size}: not kept")
    if info.sha256sum is None:
        raise IntegrityError(f"deployment {transport.name}: backup {info.filename} has no "
                             f"sha256sum in the listing: it cannot be verified, not kept")
    if digest != info.sha256sum:
        raise IntegrityError(f"deployment {transport.name}: backup {info.filename} arrived with "
                             f"sha256 {digest[:16]}..., the Management Node lists "
                             f"{info.sha256sum[:16]}...: corrupted in transit, not kept")
    return size, digest


def _download_uri_for(transport: Transport, info: BackupInfo, resp: requests.Response) -> str:
    """The item answered its JSON detail, not the file: find where the file is served."""
    detail = transport.decode(resp, info.resource_uri)
    if isinstance(detail, dict) and isinstance(detail.get("download_uri"), str):
        return str(detail["download_uri"])
    for req in list_concurrent(transport, BACKUP_REQUESTS):
        uri = req.get("download_uri")
        if isinstance(uri, str) and (req.get("filename") == info.filename
                                     or info.filename in unquote(uri)):
            return uri
    raise ApiError(f"deployment {transport.name}: the Management Node serves no file for backup "
                   f"{info.filename} (its item answers JSON and no backup_request has it)")


def _match_download(new: list[BackupInfo], download_uri: str | None) -> BackupInfo | None:
    if not download_uri:
        return None
    for b in new:
        if b.filename in unquote(download_uri):
            return b
    return None


def _request_uris(transport: Transport) -> set[str]:
    return {str(r.get("resource_uri")) for r in list_concurrent(transport, BACKUP_REQUESTS)}


def _request_uri_from(transport: Transport, resp: requests.Response) -> str | None:
    """The backup_request the create answer points to (Location or body), when it says so."""
    if resp.headers.get("Location"):
        return str(resp.headers["Location"])
    if resp.content:
        try:
            body = transport.decode(resp, BACKUP_CREATE)
        except ApiError:
            return None
        for place in (body, command_data(body)):  # the {"status", "data"} wrapper, or bare
            if isinstance(place, dict):
                for key in ("resource_uri", "request_uri", "backup_request"):
                    if isinstance(place.get(key), str) and BACKUP_REQUESTS in place[key]:
                        return str(place[key])
            if isinstance(place, dict) and isinstance(place.get("request_id"), int | str):
                return f"/api/admin/{BACKUP_REQUESTS}{place['request_id']}/"
    return None


def command_data(answer: Any) -> Any:
    """A command's result: real nodes wrap it as ``{"status": "success", "data": ...}``;
    a bare answer (an older reading) is its own result."""
    if isinstance(answer, dict) and "data" in answer and "status" in answer:
        return answer["data"]
    return answer


def _find_request(transport: Transport, uri: str | None, before: set[str]) -> dict[str, Any] | None:
    if uri:
        answer = transport.get_json(uri)
        return answer if isinstance(answer, dict) else None
    fresh = [r for r in list_concurrent(transport, BACKUP_REQUESTS)
             if str(r.get("resource_uri")) not in before]
    return max(fresh, key=lambda r: str(r.get("created_at") or "")) if fresh else None


class _ServedElsewhere(Exception):
    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.uri = uri


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
