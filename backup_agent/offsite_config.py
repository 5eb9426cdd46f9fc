"""``[[storage.copies]]`` and ``[encryption]`` of agent.toml: off-site stores and age recipients.

Parsed by :func:`backup_agent.config.parse`; errors name the table and the key, never a
secret's value. A recipient that is not an age public key is a configuration error at load,
not a copy that fails at night.

A copy's ``retention`` table has the keys of ``[retention]`` (rules, per-kind tables) and
``remove_last_copy``. When written it replaces the main policy whole for that copy (the most
specific table wins, as in ``[retention]``); when absent the copy inherits the main policy of
each deployment and kind. ``remove_last_copy`` (default false) lets the copy's retention delete
the last verified copy of a restore point whose local bytes are gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from backup_agent.config import NAME_RE, Secret, _Reader
from backup_agent.errors import ConfigError
from backup_agent.retention.settings import Table, parse_table

COPY_TYPES = ("s3", "azure-blob", "gcs")
LOCK_MODES = ("governance", "compliance")
COPY_KEYS = {
    "s3": {"bucket", "prefix", "region", "endpoint_url", "access_key_id_env",
           "access_key_id_file", "secret_access_key_env", "secret_access_key_file",
           "object_lock", "retention"},
    "azure-blob": {"container", "prefix", "account_url", "connection_string_env",
                   "connection_string_file", "sas_token_env", "sas_token_file", "retention"},
    "gcs": {"bucket", "prefix", "project", "endpoint_url", "credentials_file", "retention"},
}
# Room exports and inventories hold PINs, aliases and addresses: off-site only encrypted, as
# restic would (it has no plaintext mode). Without [encryption] they stay local, said once here.
NOT_ENCRYPTED = ("not encrypted: [encryption] recipients are needed to copy room exports "
                 "and inventories off-site")
PLAINTEXT_WARNING = ("storage.copies: room exports and inventories are not copied off-site: "
                     "[encryption] recipients are needed to copy them (config backups, encrypted "
                     "by the Management Node, are copied)")
AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")


@dataclass(frozen=True)
class CopyConfig:
    """One off-site store: where it is and how to reach it (secrets by reference)."""

    name: str
    type: str
    bucket: str  # the bucket, or the Azure container
    prefix: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)
    lock_mode: str | None = None
    lock_days: int | None = None
    retention: Table | None = None  # None: the main [retention] applies
    remove_last_copy: bool = False


@dataclass(frozen=True)
class EncryptionConfig:
    """age recipients (public keys) to encrypt to; the identity file only for reading back."""

    recipients: tuple[str, ...]
    identity_file: str | None = None


def parse_copies(raw: Any) -> tuple[CopyConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError("storage.copies: must be an array of [[storage.copies]] tables")
    copies = tuple(_parse_copy(f"storage.copies[{i}]", c) for i, c in enumerate(raw))
    seen: set[str] = set()
    for c in copies:
        if c.name in seen:
            raise ConfigError(f"storage.copies: {c.name!r} appears twice")
        seen.add(c.name)
    return copies


def _parse_copy(where: str, raw: Any) -> CopyConfig:
    r = _Reader(where, raw, None)
    name = r.get("name", str, required=True)
    if not NAME_RE.match(name):
        raise ConfigError(f"{where}: name {name!r} must be letters, digits, '.', '_' or '-'")
    where = r.where = f"storage.copies.{name}"
    ctype = r.get("type", str, required=True)
    if ctype not in COPY_TYPES:
        raise ConfigError(f"{where}.type: {ctype!r} is not one of {', '.join(COPY_TYPES)}")
    r = _Reader(where, {k: v for k, v in raw.items() if k not in ("name", "type")},
                COPY_KEYS[ctype])
    bucket_key = "container" if ctype == "azure-blob" else "bucket"
    bucket = r.get(bucket_key, str, required=True)
    if not bucket.strip():
        raise ConfigError(f"{where}.{bucket_key}: is empty")
    prefix = _prefix(where, r.get("prefix", str, ""))
    secrets: dict[str, Secret] = {}
    for base in ("access_key_id", "secret_access_key", "connection_string", "sas_token"):
        if f"{base}_env" in COPY_KEYS[ctype] and (s := r.secret(base, f"{where}.{base}")):
            secrets[base] = s
    settings = {k: r.get(k, str) for k in ("region", "endpoint_url", "account_url", "project",
                                          "credentials_file") if k in raw}
    mode, days = _lock(where, r.get("object_lock", dict)) if ctype == "s3" else (None, None)
    retention, last = _retention(f"{where}.retention", r.get("retention", dict))
    return CopyConfig(name=name, type=ctype, bucket=bucket, prefix=prefix, settings=settings,
                      secrets=secrets, lock_mode=mode, lock_days=days, retention=retention,
                      remove_last_copy=last)


def _retention(where: str, raw: dict[str, Any] | None) -> tuple[Table | None, bool]:
    if raw is None:
        return None, False
    last = raw.get("remove_last_copy", False)
    if not isinstance(last, bool):
        raise ConfigError(f"{where}.remove_last_copy: expected true or false, got {last!r}")
    rules = {k: v for k, v in raw.items() if k != "remove_last_copy"}
    if not rules and "remove_last_copy" in raw:
        return None, last  # the main policy, with the copy's say on the last copy
    return parse_table(where, rules), last


def _prefix(where: str, prefix: str) -> str:
    if not prefix:
        return ""
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    parts = prefix[:-1].split("/")
    if prefix.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ConfigError(f"{where}.prefix: {prefix!r} must be relative segments like 'prod/'")
    return prefix


def _lock(where: str, raw: dict[str, Any] | None) -> tuple[str | None, int | None]:
    if raw is None:
        return None, None
    r = _Reader(f"{where}.object_lock", raw, {"mode", "days"})
    mode = r.get("mode", str, required=True).lower()
    if mode not in LOCK_MODES:
        raise ConfigError(f"{where}.object_lock.mode: {mode!r} is not one of {', '.join(LOCK_MODES)}")
    days = r.get("days", int, required=True)
    if not 1 <= days <= 36500:
        raise ConfigError(f"{where}.object_lock.days: {days} is out of range (1 to 36500)")
    return mode, days


def parse_encryption(raw: Any) -> EncryptionConfig | None:
    if raw is None:
        return None
    r = _Reader("encryption", raw, {"recipients", "identity_file"})
    recipients = r.get("recipients", list, required=True)
    if not recipients:
        raise ConfigError("encryption.recipients: at least one age recipient is required")
    for i, rec in enumerate(recipients):
        if not isinstance(rec, str) or not AGE_RECIPIENT.match(rec.strip()):
            shown = rec[:12] + "…" if isinstance(rec, str) and len(rec) > 12 else rec
            raise ConfigError(f"encryption.recipients[{i}]: {shown!r} is not an age public key "
                              "(age1… as printed by age-keygen)")
        try:
            import pyrage

            pyrage.x25519.Recipient.from_str(rec.strip())
        except Exception:  # pyrage raises its own types for a bad checksum
            raise ConfigError(f"encryption.recipients[{i}]: {rec[:12]}… is not a valid age public "
                              "key (bad checksum)") from None
    return EncryptionConfig(tuple(r.strip() for r in recipients), r.get("identity_file", str))
