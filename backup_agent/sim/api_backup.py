"""Backup routes: backup_create, system_backup, backup_request, backup_restore."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from backup_agent.sim import multipart
from backup_agent.sim.backupfile import BackupFileError, WrongPassphrase, read_backup
from backup_agent.sim.backups import BACKUP_REQUEST, SYSTEM_BACKUP, BackupFailed, api_time
from backup_agent.sim.http import Request, Response, error, json_response, method_not_allowed, not_found
from backup_agent.sim.query import page, select

if TYPE_CHECKING:
    from backup_agent.sim.simulator import Simulator

MAX_PASSPHRASE = 1000


def command_answer(data: Any) -> dict[str, Any]:
    """A command's answer as a real node wraps it: ``{"status": "success", "data": ...}``."""
    return {"status": "success", "data": data}


def _render_backup(sim: Simulator, entry: dict[str, Any], wrong: bool) -> dict[str, Any]:
    out = {k: v for k, v in entry.items() if k != "path"}
    out["resource_uri"] = f"{SYSTEM_BACKUP}{quote(entry['filename'], safe='')}/"
    if wrong:  # the wrong_sha256 fault: a well-formed digest of other bytes
        out["sha256sum"] = hashlib.sha256(b"not-this-file" + entry["sha256sum"].encode()).hexdigest()
    return out


def system_backup(sim: Simulator, request: Request, rest: list[str]) -> Response:
    """``configuration/v1/system_backup/`` list, and items keyed by filename (GET, DELETE)."""
    store = sim.backups
    # the filename may hold an encoded "/": split the path as sent, then decode
    raw_rest = request.raw_path.split("/system_backup/", 1)[1].strip("/")
    if not raw_rest:
        if request.method != "GET":
            return method_not_allowed("GET")
        wrong = sim.faults.take_wrong_sha()
        rows = [_render_backup(sim, e, wrong) for e in store.listing()]
        fields = set(rows[0]) if rows else None
        return json_response(page(select(rows, request.query, fields), request.query, request.raw_path,
                                  sim.opts.default_page_size, sim.opts.max_page_size, lambda r: r))
    filename = unquote(raw_rest)
    entry = store.get(filename)
    if entry is None:
        return not_found(request.path)
    if request.method == "DELETE":
        store.delete(filename)
        return Response(status=204)
    if request.method != "GET":
        return method_not_allowed("GET, DELETE")
    if sim.opts.download_mode == "item":
        return file_response(sim, request, entry)
    return json_response(_render_backup(sim, entry, sim.faults.take_wrong_sha()))


def file_response(sim: Simulator, request: Request, entry: dict[str, Any]) -> Response:
    """Stream a backup file (with ``Range: bytes=N-`` when the option allows it)."""
    path = Path(entry["path"])
    size = int(entry["size"])
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", entry["filename"])
    headers = {"Content-Disposition": f'attachment; filename="{safe_name}"'}
    offset = 0
    if sim.opts.accept_ranges:
        headers["Accept-Ranges"] = "bytes"
        match = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", "") or "")
        if match:
            offset = int(match.group(1))
            if offset >= size:
                return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            headers["Content-Range"] = f"bytes {offset}-{size - 1}/{size}"
    return Response(status=206 if offset else 200, content_type="application/octet-stream",
                    headers=headers, file=path, file_size=size, file_offset=offset, download=True)


def backup_request(sim: Simulator, request: Request, rest: list[str]) -> Response:
    """``status/v1/backup_request/`` list, items, and ``<id>/download/``."""
    if request.method != "GET":
        return method_not_allowed("GET")
    store = sim.backups
    if not rest:
        rows = [{k: v for k, v in r.items() if k != "filename"} for r in store.request_rows()]
        fields = set(rows[0]) if rows else None
        return json_response(page(select(rows, request.query, fields), request.query, request.raw_path,
                                  sim.opts.default_page_size, sim.opts.max_page_size, lambda r: r))
    if not rest[0].isdigit() or len(rest) > 2 or (len(rest) == 2 and rest[1] != "download"):
        return not_found(request.path)
    req = store.request(int(rest[0]))
    if req is None:
        return not_found(request.path)
    if len(rest) == 1:
        return json_response({k: v for k, v in req.items() if k != "filename"})
    entry = store.get(req["filename"]) if req.get("filename") else None
    if entry is None:
        return error(404, "this backup request has no file (not completed, or deleted)")
    return file_response(sim, request, entry)


def backup_create(sim: Simulator, request: Request) -> Response:
    """``command/v1/platform/backup_create/``: now, or as a background request."""
    if request.method != "POST":
        return method_not_allowed("POST")
    try:
        data = request.json()
    except ValueError:
        return error(400, "the request body is not valid JSON")
    if not isinstance(data, dict):
        return error(400, "the request body must be a JSON object")
    passphrase = data.get("passphrase")
    if not isinstance(passphrase, str) or not passphrase:
        return json_response({"passphrase": ["This field is required."]}, status=400)
    if len(passphrase) > MAX_PASSPHRASE:
        return json_response({"passphrase": ["At most 1000 characters."]}, status=400)
    background = data.get("request") in (True, "true", "True", 1)
    if background:
        req = sim.backups.new_request()
        sim.backups.run_request(req["id"], lambda: sim.make_backup(passphrase),
                                sim.opts.backup_request_seconds)
        # A command answer is wrapped ({"status", "data"}) and has no Location: a command
        # creates no resource of its own (infinity-api.md, "Real answers").
        return json_response(command_answer({"request_id": req["id"],
                                             "resource_uri": req["resource_uri"]}),
                             status=sim.opts.backup_create_status)
    try:
        entry = sim.make_backup(passphrase)
    except BackupFailed as exc:
        return error(500, f"Backup failed: {exc}")
    result: dict[str, Any] = {"filename": entry["filename"]}
    if sim.opts.download_mode == "request":
        # with this reading the bytes are only reachable through a backup request
        req = sim.backups.new_request()
        sim.backups.update_request(req["id"], state="completed", filename=entry["filename"],
                                   download_uri=f"{BACKUP_REQUEST}{req['id']}/download/",
                                   message="Backup completed")
        result["resource_uri"] = req["resource_uri"]
    return json_response(command_answer(result), status=sim.opts.backup_create_status)


def backup_restore(sim: Simulator, request: Request) -> Response:
    """``command/v1/platform/backup_restore/``: multipart ``package`` + ``passphrase``."""
    if request.method != "POST":
        return method_not_allowed("POST")
    try:
        boundary = multipart.boundary_of(request.headers.get("Content-Type", ""))
        request.body.seek(0)
        parts = multipart.parse(request.body, boundary)
    except multipart.MultipartError as exc:
        return error(400, f"backup_restore needs multipart/form-data: {exc}")
    try:
        package = parts.get("package")
        if package is None or package.file is None:
            return json_response({"package": ["A backup file upload is required."]}, status=400)
        phrase = parts.get("passphrase")
        if phrase is None or not phrase.value:
            return json_response({"passphrase": ["This field is required."]}, status=400)
        try:
            header, content = read_backup(package.file, phrase.value.decode("utf-8", "replace"))
        except WrongPassphrase:
            return error(400, "The passphrase does not decrypt this backup file.")
        except BackupFileError as exc:
            return error(400, f"Invalid backup file: {exc}.")
        answer = sim.restore_configuration(header, content)
        if answer.status == 200:  # the node restarts its services to load the configuration
            sim.state.restart(sim.opts.restore_restart_seconds)
        return answer
    finally:
        for part in parts.values():
            if part.file is not None:
                part.file.close()


def diagnostic_bundle(sim: Simulator, request: Request) -> Response:
    """``command/v1/platform/snapshot/``: Pexip's diagnostic bundle (logs for support, tar.gz).

    Pexip calls this a "snapshot"; it is not a VM snapshot. ``limit`` is how many hours of logs.
    """
    if request.method != "POST":
        return method_not_allowed("POST")
    try:
        data = request.json()
        hours = int(data.get("limit", 24)) if isinstance(data, dict) else -1
    except (ValueError, TypeError):
        hours = -1
    if not 1 <= hours <= 24 * 30:
        return json_response({"limit": ["Hours of logs: 1 to 720."]}, status=400)
    now = api_time(sim.opts.now())
    counts = sim.state.counts()
    files = {
        "administrator.log": f"{now} Management Node {sim.opts.management_name} "
                             f"version {sim.state.version} ({sim.state.build})\n",
        "support.log": f"{now} rooms={counts['conference']} aliases={counts['conference_alias']} "
                       f"nodes={counts['worker_vm']} nodes_down={sorted(sim.state.nodes_down)} "
                       f"hours={hours}\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            raw = text.encode()
            info = tarfile.TarInfo(f"diagnostics/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    stamp = now[:19].replace("-", "").replace(":", "").replace("T", "_")
    disposition = f'attachment; filename="diagnostic_snapshot_{stamp}.tgz"'
    return Response(body=buffer.getvalue(), content_type="application/x-gzip",
                    headers={"Content-Disposition": disposition})
