"""A streaming multipart/form-data reader: file parts go to disk, never whole into memory."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from typing import IO

CHUNK = 1024 * 1024
MAX_HEADERS = 16 * 1024
MAX_FIELD = 1024 * 1024


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass
class Part:
    """One form field: small values in ``value``, file uploads in ``file`` (a temp file)."""

    name: str
    filename: str | None
    value: bytes = b""
    file: IO[bytes] | None = None


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a multipart Content-Type."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise MultipartError("expected multipart/form-data")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise MultipartError("multipart/form-data without a boundary")
    return match.group(1).encode("latin-1")


def parse(stream: IO[bytes], boundary: bytes) -> dict[str, Part]:
    """Read every part of ``stream``; the caller closes the parts' files."""
    sep = b"\r\n--" + boundary
    buf = b"\r\n" + stream.read(CHUNK)  # so the first delimiter looks like the others
    while (start := buf.find(sep)) < 0:
        more = stream.read(CHUNK)
        if not more or len(buf) > MAX_HEADERS:
            raise MultipartError("no multipart delimiter in the body")
        buf += more
    buf = buf[start + len(sep):]
    parts: dict[str, Part] = {}
    while True:
        while len(buf) < 2:
            more = stream.read(CHUNK)
            if not more:
                raise MultipartError("the multipart body ends early")
            buf += more
        if buf.startswith(b"--"):
            return parts
        while b"\r\n\r\n" not in buf:
            more = stream.read(CHUNK)
            if not more or len(buf) > MAX_HEADERS:
                raise MultipartError("a multipart part has no end of headers")
            buf += more
        head, buf = buf.split(b"\r\n\r\n", 1)
        part = _part(head)
        sink: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller
        buf = _copy_until(stream, buf, sep, sink, part)
        if part.filename is None:
            sink.seek(0)
            part.value = sink.read(MAX_FIELD)
            sink.close()
        else:
            sink.seek(0)
            part.file = sink
        parts[part.name] = part


def _part(head: bytes) -> Part:
    text = head.decode("utf-8", "replace")
    disp = re.search(r"content-disposition:\s*form-data(.*)", text, re.IGNORECASE)
    if not disp:
        raise MultipartError("a multipart part has no Content-Disposition")
    name = re.search(r';\s*name="([^"]*)"', disp.group(1))
    filename = re.search(r';\s*filename="([^"]*)"', disp.group(1))
    if not name:
        raise MultipartError("a multipart part has no name")
    return Part(name.group(1), filename.group(1) if filename else None)


def _copy_until(stream: IO[bytes], buf: bytes, sep: bytes, sink: IO[bytes], part: Part) -> bytes:
    """Copy bytes to ``sink`` up to the next ``sep``; return what follows it."""
    total = 0
    while True:
        at = buf.find(sep)
        if at >= 0:
            sink.write(buf[:at])
            return buf[at + len(sep):]
        keep = len(sep) - 1  # a delimiter may straddle two chunks
        if len(buf) > keep:
            sink.write(buf[:-keep])
            total += len(buf) - keep
            buf = buf[-keep:]
        if part.filename is None and total > MAX_FIELD:
            raise MultipartError(f"form field {part.name!r} is too large")
        more = stream.read(CHUNK)
        if not more:
            raise MultipartError("the multipart body ends early")
        buf += more
