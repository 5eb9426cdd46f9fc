"""A Conferencing Node's definition as it can be written back (issue 8, defect 4).

A real node answers about 44 fields per ``configuration/v1/worker_vm/`` object, read-only ones
among them, and secrets read back encrypted (``$~!1...``) or blank. Redefining a node from
that answer POSTed read-only fields and a ciphertext as the node's password. The body is built
from the writable fields only, and a secret is never taken from what the node read back: it
comes from the configuration (``[[deployments.nodes]] password_file``) or is left out, and the
step says so.
"""

from __future__ import annotations

import logging
from typing import Any

from backup_agent.config import Deployment
from backup_agent.infinity import InfinityClient, schema

log = logging.getLogger(__name__)
WORKER_VM = "configuration/v1/worker_vm/"
ENCRYPTED_PREFIX = "$~!1"
SECRETS = ("password", "snmp_authentication_password", "snmp_privacy_password")


def writable_fields(client: InfinityClient) -> set[str]:
    """The fields of worker_vm a write accepts on this node: from its ``worker_vm/schema/``,
    cached per software version, or the built-in list (``infinity.schema.BUILT_IN``)."""
    return set(schema.writable_fields(client, "worker_vm"))


def read_back_secret(value: Any) -> bool:
    """Whether a value is a secret as the node reads it back (encrypted)."""
    return isinstance(value, str) and value.startswith(ENCRYPTED_PREFIX)


def definition(node: dict[str, Any], writable: set[str] | None = None) -> dict[str, Any]:
    """The writable part of a read-back definition, without any secret (kept in the inventory)."""
    fields = writable if writable is not None else set(schema.BUILT_IN["worker_vm"])
    return {k: v for k, v in node.items()
            if k in fields and k not in SECRETS and not read_back_secret(v)}


def body(node: dict[str, Any], deployment: Deployment, writable: set[str]
         ) -> tuple[dict[str, Any], list[str]]:
    """The POST body that redefines ``node``, and notes on the secrets it does not carry."""
    out = definition(node, writable)
    notes = []
    name = str(node.get("name"))
    configured = next((n.password for n in deployment.nodes if n.name == name and n.password), None)
    if configured is not None and "password" in writable:
        out["password"] = configured.value()
    elif node.get("password"):
        notes.append(f"{name}'s password was not sent (the Management Node reads it back "
                     f"encrypted): set it in the admin UI, or configure password_file for node "
                     f"{name} in agent.toml")
    for secret in SECRETS[1:]:
        if node.get(secret):
            notes.append(f"{secret} not sent (read back encrypted): set it again in the admin UI")
    return out, notes
