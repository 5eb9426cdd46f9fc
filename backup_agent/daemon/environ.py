"""12-factor overrides: ``BACKUP_AGENT_<TABLE>_<KEY>`` replaces ``[table] key``.

Tables: ``STORAGE``, ``DAEMON``, ``ALERTS``, ``RETENTION``; per deployment
``BACKUP_AGENT_DEPLOYMENTS_<NAME>_<KEY>`` (with ``..._<NAME>_SCHEDULE_<JOB>`` and
``..._<NAME>_RETENTION_<KEY>`` for its sub-tables) and per provider
``BACKUP_AGENT_PROVIDERS_<NAME>_<KEY>``; NAME upper-cased, ``-`` and ``.`` as ``_``. A value is
read as a TOML value when it is one (``5``, ``true``, ``["a", "b"]``) and as a string
otherwise. Other ``BACKUP_AGENT_*`` variables (the simulator's password) are not overrides.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping
from typing import Any

PREFIX = "BACKUP_AGENT_"
TABLES = ("STORAGE", "DAEMON", "ALERTS", "RETENTION")
SUBTABLES = ("SCHEDULE", "RETENTION")


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def env_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def apply_env(data: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``data`` with every override in ``environ`` applied."""
    out = copy.deepcopy(dict(data))
    for var in sorted(environ):
        if not var.startswith(PREFIX):
            continue
        rest, value = var[len(PREFIX):], _value(environ[var])
        for table in TABLES:
            if rest.startswith(table + "_") and len(rest) > len(table) + 1:
                key = rest[len(table) + 1:].lower()
                target = out.setdefault(table.lower(), {})
                if isinstance(target, dict):
                    target[key] = value
                break
        else:
            if rest.startswith("DEPLOYMENTS_"):
                _deployment(out, rest[len("DEPLOYMENTS_"):], value)
            elif rest.startswith("PROVIDERS_"):
                _provider(out, rest[len("PROVIDERS_"):], value)
    return out


def _deployment(out: dict[str, Any], rest: str, value: Any) -> None:
    deps = out.get("deployments")
    if not isinstance(deps, list):
        return
    # The longest matching name first: "PROD_EU" must not be taken for "PROD" + "EU_...".
    named = [d for d in deps if isinstance(d, dict) and isinstance(d.get("name"), str)]
    for dep in sorted(named, key=lambda d: -len(d["name"])):
        head = env_key(dep["name"]) + "_"
        if not rest.startswith(head):
            continue
        key = rest[len(head):]
        for sub in SUBTABLES:
            if key.startswith(sub + "_"):
                table = dep.setdefault(sub.lower(), {})
                if isinstance(table, dict):
                    table[key[len(sub) + 1:].lower()] = value
                return
        dep[key.lower()] = value
        return


def _provider(out: dict[str, Any], rest: str, value: Any) -> None:
    providers = out.get("providers")
    if not isinstance(providers, dict):
        return
    for name in sorted(providers, key=lambda n: -len(n)):
        head = env_key(name) + "_"
        if rest.startswith(head) and isinstance(providers[name], dict):
            providers[name][rest[len(head):].lower()] = value
            return
