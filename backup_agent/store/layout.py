"""The key layout: where in a store each restore point's files go. The only place it is written.

``<deployment>/<kind>/<restore point id>/<file name>``, e.g.
``prod/config-backup/cb-prod-20261126T101502Z/pexip_backup.tar.gz``. Every part is one key
segment: a name from the Management Node cannot climb out of its restore point's prefix.
Stores already holding files keep them where they are: the catalog records each file's key.
"""

from __future__ import annotations

from backup_agent.errors import StoreError
from backup_agent.store.base import check_key


def restore_point_prefix(deployment: str, kind: str, rp_id: str) -> str:
    """The prefix under which one restore point's files live (ends with ``/``)."""
    for part in (deployment, kind, rp_id):
        _segment(part)
    return f"{deployment}/{kind}/{rp_id}/"


def file_key(deployment: str, kind: str, rp_id: str, name: str) -> str:
    """The key of the file ``name`` of one restore point."""
    return check_key(restore_point_prefix(deployment, kind, rp_id) + _segment(name))


def _segment(part: str) -> str:
    if not part or "/" in part:
        raise StoreError(f"refusing store key part {part!r}: empty or with '/'")
    return part


MANIFEST = "backup-agent-manifest.json"


def manifest_key(deployment: str, kind: str, rp_id: str) -> str:
    """The key of a restore point's self-describing manifest in an off-site store."""
    return file_key(deployment, kind, rp_id, MANIFEST)


def is_manifest(key: str) -> bool:
    return key.rsplit("/", 1)[-1] == MANIFEST
