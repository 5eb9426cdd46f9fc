"""``[daemon]``'s web keys: ``[[daemon.tokens]]``, ``auth``, TLS and session lifetimes.

A token is read from its secret file when agent.toml loads and only its SHA-256 digest is
kept: the value itself is never stored, logged or shown (``config check`` names the token and
its role). Every bad entry is a one-line ConfigError naming the key.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from backup_agent.duration import parse_duration
from backup_agent.errors import ConfigError

ROLES = ("viewer", "operator")
AUTH_MODES = ("token", "none")
TOKEN_KEYS = {"name", "role", "token_file"}
WEB_KEYS = {"tokens", "auth", "tls_cert_file", "tls_key_file", "session_idle", "session_max",
            "secure_cookie"}
SESSION_IDLE, SESSION_MAX = timedelta(hours=8), timedelta(hours=12)
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class TokenSpec:
    name: str
    role: str
    digest: bytes = field(repr=False)  # sha256 of the token; the token itself is not kept


@dataclass(frozen=True)
class WebSettings:
    tokens: tuple[TokenSpec, ...] = ()
    auth: str = "token"  # "none": no sign-in at all, allowed on a loopback listen only
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    session_idle: timedelta = SESSION_IDLE
    session_max: timedelta = SESSION_MAX
    secure_cookie: bool = False  # behind a proxy that terminates HTTPS (TLS here implies it)

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def cookie_secure(self) -> bool:
        return self.tls or self.secure_cookie


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_web(raw: Mapping[str, Any], host: str, base: Path | None) -> WebSettings:
    auth = raw.get("auth", "token")
    if auth not in AUTH_MODES:
        raise ConfigError(f"daemon.auth: expected \"token\" or \"none\", got {auth!r}")
    if auth == "none" and not is_loopback(host):
        raise ConfigError(f"daemon.auth: \"none\" is allowed only on a loopback listen address "
                          f"(127.0.0.1, ::1), not {host}; configure [[daemon.tokens]] instead")
    tokens = _tokens(raw.get("tokens", []), base)
    cert, key = (_file(raw.get(k), f"daemon.{k}", base) for k in ("tls_cert_file", "tls_key_file"))
    if (cert is None) != (key is None):
        raise ConfigError("daemon.tls_cert_file and daemon.tls_key_file: give both or neither")
    if cert is not None and key is not None:
        _check_tls(cert, key)
    idle, most = (parse_duration(raw[k], f"daemon.{k}") if k in raw else d
                  for k, d in (("session_idle", SESSION_IDLE), ("session_max", SESSION_MAX)))
    secure = raw.get("secure_cookie", False)
    if not isinstance(secure, bool):
        raise ConfigError(f"daemon.secure_cookie: expected true or false, got {secure!r}")
    return WebSettings(tokens=tokens, auth=str(auth), tls_cert_file=cert, tls_key_file=key,
                       session_idle=idle, session_max=most, secure_cookie=secure)


def _tokens(raw: Any, base: Path | None) -> tuple[TokenSpec, ...]:
    if not isinstance(raw, list):
        raise ConfigError("daemon.tokens: expected [[daemon.tokens]] tables")
    out: list[TokenSpec] = []
    for i, entry in enumerate(raw):
        where = f"daemon.tokens[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: must be a table")
        if unknown := sorted(set(entry) - TOKEN_KEYS):
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(TOKEN_KEYS))})")
        name, role = entry.get("name"), entry.get("role")
        if not isinstance(name, str) or not name.strip() or not name.isprintable():
            raise ConfigError(f"{where}.name: expected a name (like \"ops-team\")")
        if role not in ROLES:
            raise ConfigError(f"{where}.role: expected \"viewer\" or \"operator\", got {role!r}")
        if any(t.name == name for t in out):
            raise ConfigError(f"{where}.name: {name!r} is used by another token")
        out.append(TokenSpec(name, role, _read_token(entry.get("token_file"), f"{where}.token_file", base)))
    return tuple(out)


def _read_token(name: Any, where: str, base: Path | None) -> bytes:
    path = _file(name, where, base)
    if path is None:
        raise ConfigError(f"{where}: required (a file holding the token)")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read {path}: {why}") from None
    if not value:
        raise ConfigError(f"{where}: {path} is empty")
    if len(value) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{where}: the token in {path} is shorter than {MIN_TOKEN_CHARS} characters")
    return hashlib.sha256(value.encode()).digest()


def _file(name: Any, where: str, base: Path | None) -> Path | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: expected a file path")
    path = Path(name).expanduser()
    return base / path if base is not None and not path.is_absolute() else path


def _check_tls(cert: Path, key: Path) -> None:
    """Loaded now, so a bad pair is refused at start (and by ``config check``), in one line."""
    for path, what in ((cert, "tls_cert_file"), (key, "tls_key_file")):
        if not path.is_file():
            raise ConfigError(f"daemon.{what}: {path} does not exist or is not a file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"daemon.tls_cert_file/tls_key_file: {cert} and {key} are not a usable "
                          f"certificate and key ({reason})") from None
