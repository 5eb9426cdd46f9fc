"""Request and response records shared by the simulator's routes, and JSON helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import IO, Any


@dataclass
class Request:
    """One HTTP request, body already read (spooled to disk past 1 MiB)."""

    method: str
    path: str  # percent-decoded path, without the query
    raw_path: str  # as sent, still percent-encoded
    query: dict[str, str]
    headers: Message
    body: IO[bytes]
    body_size: int

    def read_body(self, limit: int = 16 * 1024 * 1024) -> bytes:
        self.body.seek(0)
        return self.body.read(limit)

    def json(self) -> Any:
        """The body as JSON (form-encoded bodies are accepted too, as Django does)."""
        raw = self.read_body()
        if not raw.strip():
            return {}
        ctype = self.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" in ctype:
            from urllib.parse import parse_qsl
            return dict(parse_qsl(raw.decode("utf-8", "replace")))
        return json.loads(raw)


@dataclass
class Response:
    """What a route answers: a body, a file to stream, or a dropped connection."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    file_size: int = 0
    file_offset: int = 0  # first byte to send (a Range request)
    download: bool = False  # a backup download: subject to the cut_download fault
    drop: bool = False  # close the connection without answering


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(status=status, body=json.dumps(data).encode("utf-8"), headers=headers or {})


def error(status: int, message: str, **extra: Any) -> Response:
    """A JSON error answer with one readable line in ``error``."""
    return json_response({"error": message, **extra}, status=status)


def not_found(path: str = "") -> Response:
    return error(404, "not found" + (f": {path}" if path else ""))


def method_not_allowed(allowed: str) -> Response:
    return Response(status=405, body=b"", headers={"Allow": allowed})
