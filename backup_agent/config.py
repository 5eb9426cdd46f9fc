"""agent.toml: read with tomllib, validated on load, secrets resolved only when used.

Errors name the file, the table and the key, and say what is wrong; they never contain a
secret's value. Secrets come from ``<name>_env`` (an environment variable) or
``<name>_file`` (a file whose content, stripped of the trailing newline, is the secret).
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from backup_agent.daemon.settings import ServiceSettings, parse_service
from backup_agent.errors import ConfigError, SecretError
from backup_agent.privfiles import read_bounded

if TYPE_CHECKING:
    from backup_agent.offsite_config import CopyConfig, EncryptionConfig

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")  # \Z: "$" matches before a newline
CONFIG_LIMIT = 4 << 20  # agent.toml; larger is a mistake (/dev/zero), not a configuration
SECRET_LIMIT = 64 << 10
ROLES = ("management", "conferencing")


@dataclass(frozen=True)
class Secret:
    """Where a secret lives. ``value()`` reads it; ``repr`` never shows it."""

    label: str  # e.g. "deployments.prod.password"
    env: str | None = None
    file: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.env or self.file)

    def value(self) -> str:
        if self.env:
            val = os.environ.get(self.env)
            if not val:
                raise SecretError(f"{self.label}: environment variable {self.env} is not set")
            return val
        if self.file:
            try:
                val = read_bounded(self.file, SECRET_LIMIT).decode("utf-8").rstrip("\r\n")
            except OSError as exc:
                raise SecretError(
                    f"{self.label}: cannot read secret file {self.file}: {exc.strerror}"
                ) from None
            except ValueError:  # a NUL in the name, or bytes that are not UTF-8
                raise SecretError(f"{self.label}: secret file {self.file!r} is not a readable "
                                  "UTF-8 text file") from None
            if not val:
                raise SecretError(f"{self.label}: secret file {self.file} is empty")
            return val
        raise SecretError(f"{self.label}: not configured (set {self.label.rsplit('.', 1)[-1]}_env "
                          f"or {self.label.rsplit('.', 1)[-1]}_file)")

    def __repr__(self) -> str:
        return f"Secret({self.label})"


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    provider: str | None = None
    vm: str | None = None
    #: the Conferencing Node's own password (worker_vm ``password``), sent when it is redefined:
    #: the Management Node reads it back encrypted, so it is never copied from there
    password: Secret | None = None
    #: a Conferencing Node snapshotted by ``checkpoint create`` too (Pexip's advice is to
    #: redeploy Conferencing Nodes, not revert them: off by default)
    checkpoint_snapshot: bool = False


@dataclass(frozen=True)
class Deployment:
    name: str
    url: str
    username: str = "admin"
    password: Secret | None = None
    client_id: str | None = None
    private_key: Secret | None = None
    passphrase: Secret | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = 30.0
    max_concurrency: int = 5
    page_size: int = 500
    retries: int = 5
    nodes: tuple[Node, ...] = ()
    #: a checkpoint's snapshots older than this warn in ``status`` (Pexip: about two weeks)
    checkpoint_max_age_days: int = 14

    @property
    def auth_kind(self) -> str:
        return "oauth2" if self.client_id else "basic"

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes) or "none configured"
        raise ConfigError(f"deployment {self.name!r} has no node {name!r} (nodes: {known})")


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    type: str
    settings: Mapping[str, Any]
    secrets: Mapping[str, Secret] = field(default_factory=dict)

    def resolved(self) -> dict[str, Any]:
        """Settings with every ``x_env``/``x_file`` replaced by ``x`` = the secret's value."""
        out = dict(self.settings)
        for key, secret in self.secrets.items():
            out[key] = secret.value()
        return out


@dataclass(frozen=True)
class Config:
    path: Path | None
    storage_path: Path
    deployments: tuple[Deployment, ...]
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    service: ServiceSettings = field(default_factory=ServiceSettings)  # daemon, alerts, retention
    copies: tuple[CopyConfig, ...] = ()  # [[storage.copies]]: off-site stores
    encryption: EncryptionConfig | None = None  # [encryption]: age recipients

    @property
    def prunes(self) -> bool:
        """Whether any retention is written: ``[retention]`` or a copy's own ``retention``."""
        return self.service.retention.configured or any(c.retention for c in self.copies)

    @property
    def warnings(self) -> list[str]:
        """What is valid but probably not meant: one line each (config load, ``config check``)."""
        from backup_agent.offsite_config import PLAINTEXT_WARNING

        return [PLAINTEXT_WARNING] if self.copies and self.encryption is None else []

    def copy(self, name: str) -> CopyConfig:
        for c in self.copies:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.copies) or "none configured"
        raise ConfigError(f"no [[storage.copies]] store named {name!r} (known: {known})")

    @property
    def catalog_path(self) -> Path:
        return self.storage_path / "catalog.db"

    @property
    def store_path(self) -> Path:
        return self.storage_path / "store"

    def deployment(self, name: str | None = None) -> Deployment:
        if name is None:
            if len(self.deployments) == 1:
                return self.deployments[0]
            names = ", ".join(d.name for d in self.deployments)
            raise ConfigError(f"several deployments configured ({names}): choose one with --deployment")
        for dep in self.deployments:
            if dep.name == name:
                return dep
        names = ", ".join(d.name for d in self.deployments) or "none"
        raise ConfigError(f"no deployment named {name!r} in the configuration (known: {names})")


# The top-level tables of agent.toml. A table is known only once a feature reads it: one that
# nothing implements is refused like any unknown key. A feature adds its table's name here.
TABLES = ("storage", "deployments", "providers", "encryption",  # [[storage.copies]] is in storage
          "daemon", "alerts", "retention")  # the service's: backup_agent/daemon/settings.py
DEPLOYMENT_KEYS = {
    "name", "url", "username", "password_env", "password_file", "client_id",
    "private_key_file", "passphrase_env", "passphrase_file", "verify_tls", "ca_bundle",
    "timeout", "max_concurrency", "page_size", "retries", "nodes", "checkpoint_max_age_days",
    "schedule", "retention",  # the service's: backup_agent/daemon/settings.py
}
NODE_KEYS = {"name", "role", "provider", "vm", "password_env", "password_file",
             "checkpoint_snapshot"}
# Provider settings that name a file (besides the ``*_file`` secrets), relative to agent.toml.
PROVIDER_PATH_SETTINGS = ("ca_bundle", "known_hosts")


class _Reader:
    """Typed access to one TOML table with errors that name where the key is."""

    def __init__(self, where: str, table: Any, allowed: set[str] | None,
                 base: Path | None = None) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        self.where, self.table, self.base = where, table, base
        if allowed is not None:
            unknown = sorted(set(table) - allowed)
            if unknown:
                raise ConfigError(
                    f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
                )

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            required: bool = False) -> Any:
        if key not in self.table:
            if required:
                raise ConfigError(f"{self.where}: missing required key {key!r}")
            return default
        val = self.table[key]
        # bool is an int in Python: never accept it where a number is meant.
        if not isinstance(val, kind) or (isinstance(val, bool) and bool not in _tuple(kind)):
            names = "/".join(t.__name__ for t in _tuple(kind))
            raise ConfigError(f"{self.where}.{key}: expected {names}, got {type(val).__name__}")
        return val

    def path(self, key: str) -> str | None:
        """A file name, relative to agent.toml's directory when not absolute."""
        val = self.get(key, str)
        return None if val is None else _relative_to(self.base, val, f"{self.where}.{key}")

    def secret(self, name: str, label: str, required: bool = False) -> Secret | None:
        env = self.get(f"{name}_env", str)
        file = self.path(f"{name}_file")
        if env and file:
            raise ConfigError(f"{self.where}: set {name}_env or {name}_file, not both")
        if not (env or file):
            if required:
                raise ConfigError(f"{self.where}: missing {name}_env or {name}_file")
            return None
        return Secret(label, env=env, file=file)


def _relative_to(base: Path | None, name: str, where: str) -> str:
    """``name`` resolved against ``base`` (agent.toml's directory), as ``storage.path`` is.

    A cron job or a systemd unit runs in another working directory than the shell where
    agent.toml was written; a file named relative to the configuration must still be found.
    """
    if "\0" in name:
        raise ConfigError(f"{where}: {name!r}: a file name cannot hold a NUL byte")
    try:
        path = Path(name).expanduser()
    except RuntimeError:  # ~nouser: no such user, or no home directory
        raise ConfigError(f"{where}: {name!r}: cannot expand '~' (no such user or home "
                          "directory)") from None
    if base is not None and name.strip() and not path.is_absolute():
        path = base / path
    return str(path)


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _check_name(where: str, name: str) -> str:
    if not NAME_RE.match(name):
        raise ConfigError(f"{where}: name {name!r} must be letters, digits, '.', '_' or '-'")
    return name


def _positive(where: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: {value} is out of range ({lo} to {hi})")


def _parse_node(where: str, raw: Any, base: Path | None = None) -> Node:
    r = _Reader(where, raw, NODE_KEYS, base)
    name = _check_name(where, r.get("name", str, required=True))
    role = r.get("role", str, required=True)
    if role not in ROLES:
        raise ConfigError(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
    return Node(name=name, role=role, provider=r.get("provider", str), vm=r.get("vm", str),
                password=r.secret("password", f"{where}.password"),
                checkpoint_snapshot=r.get("checkpoint_snapshot", bool, False))


def check_url(url: str, where: str) -> str:
    """An http(s) URL of a Management Node, without credentials (never echoed in an error)."""
    url = url.rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        parts = None
    if parts is not None and (parts.username or parts.password or "@" in parts.netloc):
        raise ConfigError(f"{where}: put credentials in username/password_env (or the "
                          "environment), not the URL")
    shown = url[:200]
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigError(f"{where}: {shown!r} is not an http(s) URL of a Management Node")
    return url


def _parse_deployment(where: str, raw: Any, base: Path | None = None) -> Deployment:
    r = _Reader(where, raw, DEPLOYMENT_KEYS, base)
    name = _check_name(where, r.get("name", str, required=True))
    where = f"deployments.{name}"
    r.where = where
    url = check_url(r.get("url", str, required=True), f"{where}.url")
    client_id = r.get("client_id", str)
    password = r.secret("password", f"{where}.password")
    private_key = None
    if r.get("private_key_file", str):
        private_key = Secret(f"{where}.private_key", file=r.path("private_key_file"))
    if client_id and not private_key:
        raise ConfigError(f"{where}: client_id needs private_key_file (OAuth2 client credentials)")
    if private_key and not client_id:
        raise ConfigError(f"{where}: private_key_file needs client_id")
    if not client_id and not password:
        raise ConfigError(f"{where}: set password_env or password_file (or client_id + private_key_file)")
    ca_bundle = r.path("ca_bundle")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise ConfigError(f"{where}.ca_bundle: file {ca_bundle} does not exist")
    timeout = float(r.get("timeout", (int, float), 30.0))
    _positive(f"{where}.timeout", timeout, 1, 3600)
    conc = r.get("max_concurrency", int, 5)
    _positive(f"{where}.max_concurrency", conc, 1, 64)
    page = r.get("page_size", int, 500)
    _positive(f"{where}.page_size", page, 1, 10000)
    retries = r.get("retries", int, 5)
    _positive(f"{where}.retries", retries, 0, 20)
    max_age = r.get("checkpoint_max_age_days", int, 14)
    _positive(f"{where}.checkpoint_max_age_days", max_age, 1, 365)
    nodes_raw = r.get("nodes", list, [])
    nodes = tuple(_parse_node(f"{where}.nodes[{i}]", n, base) for i, n in enumerate(nodes_raw))
    _unique(f"{where}.nodes", [n.name for n in nodes])
    return Deployment(
        name=name, url=url, username=r.get("username", str, "admin"), password=password,
        client_id=client_id, private_key=private_key,
        passphrase=r.secret("passphrase", f"{where}.passphrase"),
        verify_tls=r.get("verify_tls", bool, True), ca_bundle=ca_bundle, timeout=timeout,
        max_concurrency=conc, page_size=page, retries=retries, nodes=nodes,
        checkpoint_max_age_days=max_age,
    )


def _parse_provider(name: str, raw: Any, config_dir: Path | None = None) -> ProviderConfig:
    where = f"providers.{_check_name('providers', name)}"
    r = _Reader(where, raw, None, config_dir)
    ptype = r.get("type", str, required=True)
    settings: dict[str, Any] = {}
    secrets: dict[str, Secret] = {}
    for key, val in raw.items():
        if key == "type":
            continue
        base, sep, how = key.rpartition("_")
        if sep and how in ("env", "file") and base and isinstance(val, str):
            if base in secrets:
                raise ConfigError(f"{where}: set {base}_env or {base}_file, not both")
            secrets[base] = Secret(f"{where}.{base}",
                                   **{how: r.path(key) if how == "file" else val})
        elif key in PROVIDER_PATH_SETTINGS and isinstance(val, str):
            settings[key] = r.path(key)
        else:
            settings[key] = val
    _check_provider_keys(where, ptype, [*settings, *secrets])
    return ProviderConfig(name=name, type=ptype, settings=settings, secrets=secrets)


def _check_provider_keys(where: str, ptype: str, keys: list[str]) -> None:
    """An unknown provider type, or a key its provider does not declare, is refused at load.

    Found only when the provider was first used, a typo became a failed run (exit 3) at the
    moment the snapshot was wanted; here it is one line naming the table and the key (exit 2).
    Secrets are checked by the name the provider sees (``password`` for ``password_env``).
    """
    from providers import registry
    from providers.base import ProviderError as PError

    try:
        cls = registry.provider_class(ptype)
    except PError as exc:
        raise ConfigError(f"{where}.type: {exc}") from None
    except Exception as exc:  # a provider package that fails to import is broken config too
        raise ConfigError(f"{where}.type: provider {ptype!r} cannot be loaded: "
                          f"{type(exc).__name__}: {exc}") from None
    accepted = cls.settings_keys
    if accepted is None:  # a provider that declares nothing is checked when it is built
        return
    for key in sorted(keys):
        if key not in accepted:
            known = ", ".join(sorted(accepted))
            raise ConfigError(f"{where}: unknown key {key!r} for a {ptype} provider (known: {known})")


def _unique(where: str, names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"{where}: {n!r} appears twice")
        seen.add(n)


def _check_table_kind(key: str, value: Any) -> None:
    """Every top-level key is a table, ``deployments`` an array of tables (``retention = 5``)."""
    if key == "deployments":
        if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
            raise ConfigError("deployments: must be [[deployments]] tables")
    elif not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a [{key}] table, not a {type(value).__name__}")


def parse(data: Mapping[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed agent.toml document into a :class:`Config`."""
    from backup_agent.offsite_config import parse_copies, parse_encryption

    allowed = set(TABLES)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"unknown top-level key {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
    for key, value in data.items():
        _check_table_kind(key, value)
    storage = _Reader("storage", data.get("storage", {}), {"path", "copies"})
    raw_path = storage.get("path", str, required=True)
    if not raw_path.strip():
        raise ConfigError("storage.path: is empty (a directory for the store and the catalog)")
    storage_path = Path(_relative_to(None, raw_path, "storage.path"))
    if path is not None and not storage_path.is_absolute():
        storage_path = (path.parent / storage_path).resolve()
    deps_raw = data.get("deployments", [])
    if not isinstance(deps_raw, list) or not deps_raw:
        raise ConfigError("deployments: at least one [[deployments]] table is required")
    base = path.absolute().parent if path is not None else None
    deployments = tuple(_parse_deployment(f"deployments[{i}]", d, base)
                        for i, d in enumerate(deps_raw))
    _unique("deployments", [d.name for d in deployments])
    prov_raw = data.get("providers", {})
    if not isinstance(prov_raw, dict):
        raise ConfigError("providers: must be a table of [providers.NAME] tables")
    providers = {name: _parse_provider(name, raw, base) for name, raw in prov_raw.items()}
    for dep in deployments:
        for node in dep.nodes:
            if node.provider and node.provider not in providers:
                known = ", ".join(sorted(providers)) or "none"
                raise ConfigError(
                    f"deployments.{dep.name}.nodes.{node.name}: provider {node.provider!r} "
                    f"is not a [providers.*] table (known: {known})"
                )
    return Config(path=path, storage_path=storage_path, deployments=deployments,
                  providers=providers, copies=parse_copies(storage.get("copies", list, [])),
                  encryption=parse_encryption(data.get("encryption")),
                  service=parse_service(data, deps_raw, base))


def load(path: str | os.PathLike[str]) -> Config:
    """Read and validate agent.toml at ``path``."""
    p = Path(path)
    try:
        raw = read_bounded(p, CONFIG_LIMIT)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {p} not found (pass --config FILE)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {p}: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"configuration file {str(p)!r}: a file name cannot hold a NUL byte") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise ConfigError(f"{p}: not a usable TOML value: {str(exc)[:120]}") from None
    from backup_agent.daemon.environ import apply_env

    cfg = parse(apply_env(data, os.environ), p)
    for warning in cfg.warnings:
        logging.getLogger(__name__).warning("%s: %s", p, warning)
    return cfg
