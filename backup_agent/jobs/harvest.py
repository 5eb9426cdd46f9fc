"""Harvest the backups the Management Node already makes (``backup --harvest``).

The node's built-in automatic backups (``configuration/v1/autobackup/1/``) land in
``configuration/v1/system_backup/`` beside the agent's own. Harvesting downloads each listed
backup the catalog does not hold yet, verifies it by size and ``sha256sum`` against the
listing, and records it as a config-backup restore point of its own origin (``harvested``,
with the node's ``type``), taken when the node made it: a deployment is then protected
without an extra ``backup_create`` load. Each backup is an item of the run: one that fails
verification fails its item and the others go on.

A harvested backup is encrypted with the node's autobackup passphrase: restoring it needs
that passphrase as the deployment's ``passphrase_*`` (no check is recorded with it).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from backup_agent.catalog import FileRecord, Kind, RestorePoint, Run
from backup_agent.config import Deployment
from backup_agent.errors import AgentError
from backup_agent.infinity.backups import BackupInfo
from backup_agent.jobs import inventory
from backup_agent.jobs.env import Env
from backup_agent.jobs.runner import kept_if_recorded, run_job
from backup_agent.store import file_key

log = logging.getLogger(__name__)
ORIGIN = "harvested"


def _made_at(info: BackupInfo, now: datetime) -> datetime:
    """When the node made the backup (its listing ``date``, UTC); ``now`` if unreadable."""
    try:
        moment = datetime.fromisoformat(str(info.date).replace("Z", "+00:00"))
    except ValueError:
        return now
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return min(moment, now)


def _known(env: Env, deployment: Deployment) -> set[str]:
    """Filenames and digests of the config backups the catalog already holds."""
    known: set[str] = set()
    for rp in env.catalog.restore_points(deployment.name, "config-backup"):
        known.add(str(rp.data.get("filename")))
        known.update(f.sha256 for f in rp.files)
    return known


def _one(env: Env, deployment: Deployment, run: Run, info: BackupInfo, now: datetime) -> str:
    client = env.client(deployment)
    taken = _made_at(info, now)
    rp_id = env.catalog.new_id("hb", deployment.name, taken)
    rel = file_key(deployment.name, "config-backup", rp_id, info.filename)
    with kept_if_recorded(env) as written:
        with env.store.writer(written.add(rel), hashed=False) as sink:
            size, sha = client.download_backup(info, sink, progress=env.progress(info.filename))
            sink.commit(expected_size=info.size, expected_sha256=info.sha256sum, sha256=sha)
        env.catalog.add_restore_point(RestorePoint(
            id=rp_id, kind=Kind.CONFIG_BACKUP, deployment=deployment.name, taken_at=taken,
            version=info.version, build=info.build, verified=True, run_id=run.id,
            data={"filename": info.filename, "created_on_node": info.date, "origin": ORIGIN,
                  "node_type": info.extra.get("type"), "harvested_at": now.isoformat()},
            files=[FileRecord(info.filename, rel, sha, size)],
        ))
    return rp_id


def harvest_backups(env: Env, deployment: Deployment, run: Run, now: datetime) -> None:
    """Download, verify and record every listed backup the catalog does not hold yet."""
    client = env.client(deployment)
    known = _known(env, deployment)
    fresh = [b for b in client.list_backups()
             if b.filename not in known and (b.sha256sum or "") not in known]
    harvested = []
    for info in fresh:
        item = f"harvest {info.filename}"
        try:
            rp_id = _one(env, deployment, run, info, now)
        except AgentError as exc:
            log.error("harvest %s: %s: %s", deployment.name, info.filename, exc)
            run.item(item, "failed", str(exc))
            continue
        run.item(item, "ok")
        harvested.append({"id": rp_id, "filename": info.filename, "version": info.version})
    # The run's outcome follows what it exists to make: the harvested restore points.
    if not fresh:
        run.item("harvest", "unchanged", "no backup on the Management Node that the catalog lacks")
    elif harvested:
        run.item("harvest", "ok")
    else:
        run.item("harvest", "failed", "no backup listed on the Management Node could be harvested")
    run.summary["harvested"] = harvested


def harvest(env: Env, deployment: Deployment) -> Run:
    """The ``backup --harvest`` job: refresh the inventory, then harvest the node's backups."""
    return run_job(env, deployment, "harvest",
                   [("inventory", inventory.refresh), ("harvest", harvest_backups)],
                   purpose=("harvest",))
