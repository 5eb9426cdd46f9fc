"""The simulator's configuration backup file: the whole configuration, encrypted.

Layout (opaque to the agent, which only moves and hashes it)::

    PEXSIM-BACKUP/1\\n
    {header JSON: version, build, created, kdf parameters, salt, nonce, payload and padding sizes}\\n
    AES-256-GCM(key = scrypt(passphrase, salt), zlib(JSON configuration), aad = header line)
    padding bytes (``backup_padding_bytes``: makes big files for the download benchmark)

The file is written to disk in chunks and hashed on the way, so a 1 GiB backup never sits
in memory; only the encrypted configuration itself is built in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"PEXSIM-BACKUP/1\n"
MAX_HEADER = 64 * 1024
CHUNK = 1024 * 1024
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1


class BackupFileError(Exception):
    """The file is not a simulator backup, or it is damaged."""


class WrongPassphrase(BackupFileError):
    """The passphrase does not decrypt this backup."""


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def write_backup(path: Path, config: dict[str, Any], passphrase: str, meta: dict[str, Any],
                 padding: int = 0) -> tuple[int, str]:
    """Write an encrypted backup of ``config`` to ``path``; return (size, sha256 hex)."""
    salt, nonce = os.urandom(16), os.urandom(12)
    plain = zlib.compress(json.dumps(config, separators=(",", ":")).encode("utf-8"), 6)
    header_obj = dict(meta, kdf="scrypt", n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                      salt=base64.b64encode(salt).decode(), nonce=base64.b64encode(nonce).decode(),
                      payload=len(plain) + 16, padding=padding)
    header = json.dumps(header_obj, sort_keys=True).encode("utf-8") + b"\n"
    cipher = AESGCM(_key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)).encrypt(nonce, plain, header)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for part in (MAGIC, header, cipher):
            out.write(part)
            digest.update(part)
        _write_padding(out, digest, padding)
    return len(MAGIC) + len(header) + len(cipher) + padding, digest.hexdigest()


def _write_padding(out: IO[bytes], digest: Any, padding: int) -> None:
    # One random block repeated: incompressible for transports, cheap to make.
    block = os.urandom(min(CHUNK, padding)) if padding else b""
    left = padding
    while left > 0:
        part = block[:left] if left < len(block) else block
        out.write(part)
        digest.update(part)
        left -= len(part)


def read_header(stream: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    """The header of a backup file (and its raw line, the cipher's associated data)."""
    if stream.read(len(MAGIC)) != MAGIC:
        raise BackupFileError("not a configuration backup file of this Management Node")
    line = stream.readline(MAX_HEADER)
    if not line.endswith(b"\n"):
        raise BackupFileError("backup file header is damaged")
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise BackupFileError("backup file header is damaged") from exc
    if not isinstance(header, dict) or "payload" not in header:
        raise BackupFileError("backup file header is damaged")
    return header, line


def read_backup(stream: IO[bytes], passphrase: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decrypt a backup: return (header, configuration). Padding is not read."""
    header, line = read_header(stream)
    try:
        salt = base64.b64decode(header["salt"])
        nonce = base64.b64decode(header["nonce"])
        size = int(header["payload"])
        key = _key(passphrase, salt, int(header["n"]), int(header["r"]), int(header["p"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise BackupFileError("backup file header is damaged") from exc
    cipher = stream.read(size)
    if len(cipher) != size:
        raise BackupFileError("backup file is truncated")
    try:
        plain = AESGCM(key).decrypt(nonce, cipher, line)
    except InvalidTag as exc:
        raise WrongPassphrase("the passphrase does not decrypt this backup "
                              "(wrong passphrase, or the file is damaged)") from exc
    try:
        config = json.loads(zlib.decompress(plain))
    except (zlib.error, ValueError) as exc:
        raise BackupFileError("backup file content is damaged") from exc
    return header, config
