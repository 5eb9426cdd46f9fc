"""``[retention]``, ``[retention.<kind>]``, ``[deployments.retention]`` into policies.

Exactly the rules written apply, nothing merged in: the most specific table that exists wins
whole — the deployment's kind table, then the deployment's own rules, then the global kind
table, then the global rules. With none of them, that kind of that deployment is not pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backup_agent.errors import ConfigError
from backup_agent.retention.policy import RULE_KEYS, Policy

KINDS = ("config-backup", "room-export", "inventory", "snapshot")


@dataclass(frozen=True)
class Table:
    """One ``[retention]`` level: its own rules (or none) and its per-kind overrides."""

    rules: Policy | None = None
    kinds: Mapping[str, Policy] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return self.rules is not None or bool(self.kinds)


@dataclass(frozen=True)
class RetentionSettings:
    top: Table = field(default_factory=Table)
    deployments: Mapping[str, Table] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return self.top.present or any(t.present for t in self.deployments.values())

    def resolve(self, deployment: str, kind: str) -> tuple[Policy | None, str]:
        """The policy for ``kind`` of ``deployment`` and the table it comes from."""
        dep = self.deployments.get(deployment, Table())
        for policy, source in ((dep.kinds.get(kind), f"deployments.{deployment}.retention.{kind}"),
                               (dep.rules, f"deployments.{deployment}.retention"),
                               (self.top.kinds.get(kind), f"retention.{kind}"),
                               (self.top.rules, "retention")):
            if policy is not None:
                return policy, source
        return None, "none"

    def resolve_copy(self, copy: str, table: Table | None, deployment: str,
                     kind: str) -> tuple[Policy | None, str]:
        """The policy for ``kind`` of ``deployment`` on copy store ``copy``: the copy's own
        ``retention`` table whole when it has one (kind table, then its rules), else the main
        policy (``resolve``), inherited."""
        if table is None:
            policy, source = self.resolve(deployment, kind)
            return policy, source if policy is None else f"{source} (inherited)"
        where = f"storage.copies.{copy}.retention"
        for policy, source in ((table.kinds.get(kind), f"{where}.{kind}"), (table.rules, where)):
            if policy is not None:
                return policy, source
        return None, "none"


def parse_table(where: str, raw: Any) -> Table:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table")
    allowed = {*RULE_KEYS, *KINDS}
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(allowed))})")
    rules = {k: v for k, v in raw.items() if k in RULE_KEYS}
    kinds = {k: Policy.from_mapping(f"{where}.{k}", _table(f"{where}.{k}", v))
             for k, v in raw.items() if k in KINDS}
    if not rules and not kinds:
        raise ConfigError(f"{where}: an empty retention policy is refused (write at least one "
                          f"of {', '.join(RULE_KEYS)})")
    return Table(rules=Policy.from_mapping(where, rules) if rules else None, kinds=kinds)


def _table(where: str, raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(RULE_KEYS)})")
    return raw


def parse_retention(top: Any, per_deployment: Mapping[str, Any]) -> RetentionSettings:
    """``top`` is the ``[retention]`` table or None; ``per_deployment`` maps name to its table."""
    return RetentionSettings(
        top=parse_table("retention", top) if top is not None else Table(),
        deployments={name: parse_table(f"deployments.{name}.retention", raw)
                     for name, raw in per_deployment.items()},
    )
