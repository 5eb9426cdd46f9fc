"""Inventory: the nodes, locations and software version, as last seen.

Needed to plan when the Management Node is gone, so every job refreshes it. An inventory
identical to the previous one is confirmed (``confirmed_at``) rather than stored again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from backup_agent.catalog import FileRecord, Kind, RestorePoint, Run, iso
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, StoreError
from backup_agent.jobs import node_definition
from backup_agent.jobs.env import Env
from backup_agent.jobs.runner import kept_if_recorded
from backup_agent.planner.version import Version
from backup_agent.store import file_key

log = logging.getLogger(__name__)
NODE_FIELDS = ("name", "node_type", "system_location", "version", "sync_status", "deploy_status",
               "hypervisor", "maintenance_mode", "configuration_id")
CONFIG_FIELDS = ("name", "hostname", "domain", "address", "netmask", "gateway", "node_type",
                 "system_location", "deployment_type", "vm_cpu_count", "vm_system_memory")


def collect(env: Env, deployment: Deployment) -> dict[str, Any]:
    """Read the inventory from the Management Node."""
    client = env.client(deployment)
    # The five reads at once (within the client's bound): at 20 ms a request, one after
    # another they were a tenth of a second before the export's first page.
    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="inventory") as pool:
        reads = [pool.submit(read) for read in (
            client.management_vm_status, client.worker_vm_status, client.worker_vm_config,
            client.system_locations, lambda: _licences(client))]
        managers, worker_status, worker_config, system_locations, licences = \
            (r.result() for r in reads)
    statuses = {n.get("name"): n for n in worker_status}
    configs = {n.get("name"): n for n in worker_config}
    nodes = []
    for name in sorted(set(statuses) | set(configs), key=str):
        status, conf = statuses.get(name, {}), configs.get(name, {})
        node = {k: conf[k] for k in CONFIG_FIELDS if k in conf}
        node.update({k: status[k] for k in NODE_FIELDS if k in status})
        if conf:  # every writable field but the secrets: enough to define the node again
            node["definition"] = node_definition.definition(conf)
        nodes.append(node)
    primary = next((m for m in managers if m.get("primary", True)), managers[0] if managers else {})
    locations = sorted(str(loc.get("name")) for loc in system_locations)
    return {
        "licences": licences,
        "management_node": {k: primary.get(k) for k in ("name", "version") if k in primary},
        "conferencing_nodes": nodes,
        "locations": locations,
        "software_version": primary.get("version"),
    }


def _licences(client: Any) -> list[dict[str, Any]]:
    """The licences (for the re-license step of a rebuild or a restore); [] if unreadable."""
    try:
        rows = client.licences()
    except AgentError as exc:  # older nodes or a restricted account: the inventory goes on
        log.warning("cannot read the licences: %s", exc)
        return []
    return [{k: r.get(k) for k in ("entitlement_id", "fulfillment_id", "expiration_date", "status")}
            for r in rows if r.get("entitlement_id")]


def intact(env: Env, rp: RestorePoint) -> bool:
    """Whether ``rp`` is verified and its files are still whole in the store.

    A job confirms a previous restore point as unchanged only when it is: confirming one whose
    file was deleted or damaged would leave the deployment with no usable copy, run after run.
    A broken one is marked unverified, as ``verify`` would.
    """
    if not rp.verified:
        return False
    if any(env.store.check(f.key, f.size, f.sha256) for f in rp.files):
        env.catalog.set_verified(rp.id, False)
        return False
    return True


def refresh(env: Env, deployment: Deployment, run: Run, now: datetime) -> RestorePoint | None:
    """Record the inventory as a restore point (or confirm the previous one); a run item."""
    inventory = collect(env, deployment)
    body = json.dumps(inventory, sort_keys=True, indent=2).encode()
    digest = hashlib.sha256(body).hexdigest()
    previous = env.catalog.latest(deployment.name, "inventory")
    if previous and previous.data.get("content_sha256") == digest and intact(env, previous):
        env.catalog.update_data(previous.id, confirmed_at=iso(now))
        run.item("inventory", "unchanged")
        return previous
    rp_id = env.catalog.new_id("inv", deployment.name, now)
    rel = file_key(deployment.name, "inventory", rp_id, "inventory.json")
    # Recorded apart, like a config backup's: "38.1 (81522.0.0)" is release 38.1, build 81522.0.0.
    running = Version.parse(inventory.get("software_version"))
    with kept_if_recorded(env) as written:
        size, sha = env.store.put_bytes(written.add(rel), body)
        rp = RestorePoint(
            id=rp_id, kind=Kind.INVENTORY, deployment=deployment.name, taken_at=now,
            version=running.release_text if running else inventory.get("software_version"),
            build=running.build if running else None, verified=True, run_id=run.id,
            data={"content_sha256": digest, "nodes": len(inventory["conferencing_nodes"]),
                  "locations": len(inventory["locations"])},
            files=[FileRecord("inventory.json", rel, sha, size)],
        )
        env.catalog.add_restore_point(rp)
    run.item("inventory", "ok")
    return rp


def load(env: Env, rp: RestorePoint) -> dict[str, Any]:
    """The inventory document of an inventory restore point (fetched from a copy if lost)."""
    if env.config.copies:
        from backup_agent.jobs.fetch import ensure_local

        ensure_local(env, rp)  # e.g. a new host, its catalog rebuilt from an off-site store
    try:
        f = rp.files[0]
        body = env.store.read_bytes(f.key)
        # Plans, drills and restores act on this document: bytes that are not what was
        # recorded (even as valid JSON) must not steer them.
        if hashlib.sha256(body).hexdigest() != f.sha256:
            raise StoreError(f"{rp.id}: its inventory.json is not what was recorded (sha256 "
                             "mismatch); see `backup-agent verify`")
        data: dict[str, Any] = json.loads(body)
    except (ValueError, IndexError) as exc:
        raise StoreError(f"{rp.id}: its inventory.json is unreadable ({exc}); "
                         "see `backup-agent verify`") from exc
    return data
