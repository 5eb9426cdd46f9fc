"""The config backup job: create on the Management Node, download, verify, record.

The backup is streamed into the store under a temporary name, hashed on the fly, checked
against the size and sha256 the Management Node lists, and only then made visible and
recorded: a cut or corrupted download leaves no restore point and no visible file.
"""

from __future__ import annotations

import logging
from datetime import datetime

from backup_agent.catalog import FileRecord, Kind, RestorePoint, Run
from backup_agent.config import Deployment
from backup_agent.errors import ConfigError
from backup_agent.jobs import inventory, passphrase
from backup_agent.jobs.env import Env
from backup_agent.jobs.runner import kept_if_recorded, run_job
from backup_agent.store import file_key

log = logging.getLogger(__name__)


def passphrase_of(deployment: Deployment) -> str:
    """The backup passphrase, read before anything is asked of the Management Node."""
    if deployment.passphrase is None:
        raise ConfigError(f"deployments.{deployment.name}: config backups need passphrase_env "
                          "or passphrase_file (the backup file is encrypted with it)")
    return deployment.passphrase.value()


def config_backup(env: Env, deployment: Deployment, run: Run, now: datetime) -> None:
    """Create, download and verify one config backup; record it as a restore point."""
    secret = passphrase_of(deployment)
    source = deployment.passphrase
    assert source is not None  # passphrase_of read it
    client = env.client(deployment)
    info = client.find_new_backup(client.create_backup(secret))
    rp_id = env.catalog.new_id("cb", deployment.name, now)
    rel = file_key(deployment.name, "config-backup", rp_id, info.filename)
    with kept_if_recorded(env) as written:
        # The client hashes every byte as it writes it; the store takes that digest, not a second one.
        with env.store.writer(written.add(rel), hashed=False) as sink:
            size, sha = client.download_backup(info, sink, progress=env.progress(info.filename))
            sink.commit(expected_size=info.size, expected_sha256=info.sha256sum, sha256=sha)
        env.catalog.add_restore_point(RestorePoint(
            id=rp_id, kind=Kind.CONFIG_BACKUP, deployment=deployment.name, taken_at=now,
            version=info.version, build=info.build, verified=True, run_id=run.id,
            data={"filename": info.filename, "created_on_node": info.date,
                  "passphrase_check": passphrase.verifier(secret),
                  "passphrase_ref": passphrase.reference(source, secret,
                                                         env.catalog.passphrase_salt())},
            files=[FileRecord(info.filename, rel, sha, size)],
        ))
    run.item("config-backup", "ok")
    run.summary["config_backup"] = {"id": rp_id, "size": size, "version": info.version}
    log.info("config backup %s: %s, %d bytes, sha256 %s", rp_id, info.filename, size, sha[:12])


def backup(env: Env, deployment: Deployment) -> Run:
    """The ``backup`` job: refresh the inventory, then take a config backup."""
    return run_job(env, deployment, "backup",
                   [("inventory", inventory.refresh), ("config-backup", config_backup)],
                   purpose=("config-backup",), check=lambda: passphrase_of(deployment))
