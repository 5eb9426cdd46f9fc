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
from typing import TYPE_CHECKING, Any

from backup_agent.errors import SecretError

if TYPE_CHECKING:
    from backup_agent.catalog import RestorePoint
    from backup_agent.config import Deployment, Secret

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


# -- which passphrase a backup needs, by reference ------------------------------------------
# Each config backup records where its passphrase came from (the config key and the env var
# or file it names) and a fingerprint: HMAC-SHA256 keyed by the catalog's random salt over a
# scrypt stretch of the passphrase (salted by the same), so a guess costs a scrypt. The salt
# travels with the reference (a catalog rebuilt from a copy compares with the salt recorded).
FINGERPRINT = "hmac-sha256-scrypt"
NOT_COUNTED = "not counted as a restore point"
_stretched: dict[bytes, str] = {}  # one scrypt per salt and passphrase in a process


def fingerprint(passphrase: str, salt: bytes) -> str:
    """The non-reversible fingerprint of ``passphrase`` under ``salt`` (hex)."""
    memo = hmac.new(salt, passphrase.encode(), hashlib.sha256).digest()
    if memo not in _stretched:
        stretched = hashlib.scrypt(passphrase.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
        _stretched[memo] = hmac.new(salt, stretched, hashlib.sha256).hexdigest()
    return _stretched[memo]


def reference(secret: Secret, passphrase: str, salt: bytes) -> dict[str, Any]:
    """What a config backup records of the passphrase it was made with: never the value."""
    base = secret.label.rsplit(".", 1)[0]
    where = ({"config": f"{base}.passphrase_env", "env": secret.env} if secret.env
             else {"config": f"{base}.passphrase_file", "file": secret.file})
    return {**where, "alg": FINGERPRINT, "salt": salt.hex(),
            "fingerprint": fingerprint(passphrase, salt)}


def describe(ref: dict[str, Any]) -> str:
    """Where a reference points, for people: ``env PEXIP_PASS (deployments.prod.passphrase_env)``."""
    what = f"env {ref['env']}" if ref.get("env") else f"file {ref.get('file')}"
    return f"{what} ({ref.get('config')})"


class Availability:
    """Whether the passphrase each config backup needs is the one the agent has now.

    The deployment's configured passphrase is what a restore uploads, so it is read once and
    compared with each backup's fingerprint; a backup without a reference (an older agent's,
    a harvested one) is not judged here.
    """

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._read = False
        self._value: str | None = None
        self._error: str | None = None

    def _resolve(self) -> None:
        """Read the configured passphrase once, on the first backup that needs judging."""
        if self._read:
            return
        self._read = True
        if self.deployment.passphrase is None:
            self._error = (f"deployments.{self.deployment.name} has no passphrase_env or "
                           "passphrase_file")
            return
        try:
            self._value = self.deployment.passphrase.value()
        except SecretError as exc:
            self._error = str(exc)

    def problem(self, rp: RestorePoint) -> str | None:
        """One line saying why ``rp`` is no restore point for want of its passphrase, or None."""
        ref = rp.data.get("passphrase_ref")
        if rp.kind != "config-backup" or not isinstance(ref, dict):
            return None
        self._resolve()
        needs = f"config backup {rp.id} needs the passphrase from {describe(ref)}"
        if self._value is None:
            return f"{needs}, which the agent no longer has ({self._error}): {NOT_COUNTED}"
        try:
            same = hmac.compare_digest(fingerprint(self._value, bytes.fromhex(ref["salt"])),
                                       str(ref["fingerprint"]))
        except (KeyError, ValueError, TypeError):
            return f"{needs}: its recorded fingerprint is unreadable: {NOT_COUNTED}"
        if same:
            return None
        assert self.deployment.passphrase is not None
        return (f"{needs}; {self.deployment.passphrase.label} is now a different passphrase: "
                f"{NOT_COUNTED}")
