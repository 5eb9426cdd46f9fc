"""Encryption at rest with age (pyrage): to recipients' public keys, readable with ``age -d``.

The agent needs only the public keys to write; the identity (private key) file is read only
to read back (verify, restore, kit). Streams are encrypted and decrypted in chunks by
pyrage's ``*_io`` functions: memory does not grow with the artifact.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from backup_agent.errors import ConfigError, IntegrityError, SecretError
from backup_agent.offsite_config import EncryptionConfig

SUFFIX = ".age"


class Writable(Protocol):
    def write(self, data: bytes) -> int: ...


class HashingReader:
    """Reads ``src`` and hashes what it hands out, so the source is checked as it is copied."""

    def __init__(self, src: BinaryIO) -> None:
        self.src, self.digest, self.size = src, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def check(self, name: str, size: int, sha256: str) -> None:
        """IntegrityError unless what was read is the file the catalog describes."""
        if self.size != size or self.digest.hexdigest() != sha256:
            raise IntegrityError(f"{name}: the local file no longer matches the catalog "
                                 "(run `backup-agent verify`); not copied")


def recipients(enc: EncryptionConfig) -> list[Any]:
    import pyrage

    return [pyrage.x25519.Recipient.from_str(r) for r in enc.recipients]


def identities(enc: EncryptionConfig | None) -> list[Any]:
    """The identities of ``identity_file``; a SecretError naming the file (never its content)."""
    import pyrage

    if enc is None or not enc.identity_file:
        raise ConfigError("encryption.identity_file: not configured (needed to read encrypted "
                          "copies back)")
    try:
        lines = Path(enc.identity_file).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SecretError(f"encryption.identity_file: cannot read {enc.identity_file}: "
                          f"{exc.strerror}") from None
    keys = [line.strip() for line in lines if line.strip().startswith("AGE-SECRET-KEY-")]
    try:
        found = [pyrage.x25519.Identity.from_str(k) for k in keys]
    except Exception:  # pyrage's own error types; the key itself is never shown
        raise SecretError(f"encryption.identity_file: {enc.identity_file} holds a malformed "
                          "age identity") from None
    if not found:
        raise SecretError(f"encryption.identity_file: {enc.identity_file} holds no age identity")
    return found


def encrypt_stream(src: Any, out: Writable, enc: EncryptionConfig) -> None:
    """Encrypt everything ``src`` has left into ``out``."""
    import pyrage

    pyrage.encrypt_io(src, out, recipients(enc))


def decrypt_stream(src: BinaryIO, out: Writable, enc: EncryptionConfig | None) -> None:
    """Decrypt ``src`` into ``out``; IntegrityError when it does not decrypt (changed or foreign)."""
    import pyrage

    keys = identities(enc)
    try:
        pyrage.decrypt_io(src, out, keys)
    except pyrage.DecryptError:
        raise IntegrityError("an encrypted copy does not decrypt with the configured identity "
                             "(changed, or encrypted to another key)") from None


def seal(data: dict[str, Any], enc: EncryptionConfig) -> str:
    """``data`` as JSON, age-encrypted and base64'd: a manifest's sensitive fields."""
    import pyrage

    raw = json.dumps(data, sort_keys=True).encode()
    return base64.b64encode(pyrage.encrypt(raw, recipients(enc))).decode()


def unseal(sealed: str, enc: EncryptionConfig | None) -> dict[str, Any]:
    import pyrage

    try:
        out: dict[str, Any] = json.loads(pyrage.decrypt(base64.b64decode(sealed), identities(enc)))
    except (pyrage.DecryptError, ValueError):
        raise IntegrityError("a manifest's sealed fields do not decrypt with the configured "
                             "identity") from None
    return out
