"""A passphrase verifier, so a restore can refuse a wrong passphrase before it uploads.

The Management Node's backup file is opaque to the agent, so the passphrase cannot be tried
on it locally. Instead each config backup records a salted scrypt hash of the passphrase it
was made with (``passphrase_check`` in the restore point's data): a one-way, deliberately
slow digest, never the passphrase. A backup without one (made by an older agent) is checked
by the Management Node itself at upload, which refuses a wrong passphrase.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

N, R, P = 2 ** 14, 8, 1


def verifier(passphrase: str) -> dict[str, Any]:
    """A fresh salted scrypt verifier of ``passphrase``."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(passphrase.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return {"kdf": "scrypt", "n": N, "r": R, "p": P, "salt": base64.b64encode(salt).decode(),
            "hash": base64.b64encode(digest).decode()}


def matches(passphrase: str, check: dict[str, Any]) -> bool:
    """Whether ``passphrase`` is the one ``check`` was made from."""
    if check.get("kdf") != "scrypt":
        raise ValueError(f"unknown passphrase check kdf {check.get('kdf')!r}")
    digest = hashlib.scrypt(passphrase.encode(), salt=base64.b64decode(check["salt"]),
                            n=int(check["n"]), r=int(check["r"]), p=int(check["p"]), dklen=32)
    return hmac.compare_digest(digest, base64.b64decode(check["hash"]))
