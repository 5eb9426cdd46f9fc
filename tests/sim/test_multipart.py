"""The streaming multipart reader: delimiters split across chunks, fields and files."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup_agent.sim import multipart


def _body(boundary: bytes, package: bytes, phrase: bytes) -> bytes:
    return (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="passphrase"\r\n\r\n' + phrase
            + b"\r\n--" + boundary + b'\r\nContent-Disposition: form-data; name="package"; filename="b.bak"'
            b"\r\nContent-Type: application/octet-stream\r\n\r\n" + package + b"\r\n--" + boundary + b"--\r\n")


@settings(max_examples=60, deadline=None)
@given(package=st.binary(max_size=3000), chunk=st.integers(min_value=1, max_value=97))
def test_parts_survive_any_chunking(package: bytes, chunk: int) -> None:
    boundary = b"----b0undary"
    old = multipart.CHUNK
    multipart.CHUNK = chunk
    try:
        parts = multipart.parse(io.BytesIO(_body(boundary, package, b"pass phrase")), boundary)
    finally:
        multipart.CHUNK = old
    assert parts["passphrase"].value == b"pass phrase" and parts["passphrase"].file is None
    assert parts["package"].filename == "b.bak"
    assert parts["package"].file is not None and parts["package"].file.read() == package
    parts["package"].file.close()


@pytest.mark.parametrize("ctype", ["application/json", "multipart/form-data"])
def test_bad_content_types(ctype: str) -> None:
    with pytest.raises(multipart.MultipartError):
        multipart.boundary_of(ctype)


@pytest.mark.parametrize("body", [b"no delimiter here", b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--",
                                  b"--B\r\nX: y\r\n\r\nx\r\n--B--", b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"])
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(multipart.MultipartError):
        multipart.parse(io.BytesIO(body), b"B")
