"""Self-describing stores: the manifest written next to each copied restore point, and read back.

A manifest says what the restore point is (kind, deployment, taken_at, version, build) and
what each of its objects must hash to, so that ``catalog rebuild --from STORE`` can rebuild
the catalog from the off-site store alone. What could name a node or hold an address (the
node, the provider, the restore point's data) is sealed with age to the recipients; without
``[encryption]`` it is left out of the manifest, never written in clear.
"""

from __future__ import annotations

import json
from typing import Any

from backup_agent.catalog import CopyRecord, FileRecord, RestorePoint, iso, parse_iso
from backup_agent.errors import IntegrityError
from backup_agent.offsite_config import EncryptionConfig

FORMAT = "backup-agent/manifest"
FORMAT_VERSION = 1


def build(rp: RestorePoint, copies: list[CopyRecord], enc: EncryptionConfig | None) -> bytes:
    """The manifest of ``rp`` as copied (``copies``: one per file, with the object's hash)."""
    by_name = {c.name: c for c in copies}
    files = []
    for f in rp.files:
        c = by_name[f.name]
        files.append({"name": f.name, "key": c.key, "sha256": c.sha256, "size": c.size,
                      "source_key": f.key, "source_sha256": f.sha256, "source_size": f.size,
                      "encrypted": c.encrypted})
    doc: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "id": rp.id, "kind": str(rp.kind),
        "deployment": rp.deployment, "taken_at": iso(rp.taken_at), "version": rp.version,
        "build": rp.build, "encryption": "age" if enc else None, "files": files,
    }
    if isinstance(ref := rp.data.get("passphrase_ref"), dict):
        # In clear: which passphrase the backup needs, by reference and fingerprint, so a
        # support engineer with the bucket alone knows which one to find.
        doc["passphrase_ref"] = ref
    if enc is not None:
        from backup_agent.crypto import seal

        doc["sealed"] = seal({"node": rp.node, "provider": rp.provider, "data": rp.data}, enc)
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def parse(raw: bytes, where: str, enc: EncryptionConfig | None,
          can_unseal: bool) -> tuple[RestorePoint, list[dict[str, Any]]]:
    """The restore point a manifest describes (unverified: its bytes are not local) and its files."""
    try:
        doc = json.loads(raw)
        if doc.get("format") != FORMAT:
            raise ValueError("not a backup-agent manifest")
        private: dict[str, Any] = {}
        if doc.get("sealed") and can_unseal:
            from backup_agent.crypto import unseal

            private = unseal(doc["sealed"], enc)
        files = [FileRecord(f["name"], f["source_key"], f["source_sha256"], int(f["source_size"]))
                 for f in doc["files"]]
        rp = RestorePoint(id=doc["id"], kind=doc["kind"], deployment=doc["deployment"],
                          taken_at=parse_iso(doc["taken_at"]), version=doc.get("version"),
                          build=doc.get("build"), node=private.get("node"),
                          provider=private.get("provider"), verified=False,
                          data={**private.get("data", {}), "rebuilt_from_copy": True,
                                **({"passphrase_ref": doc["passphrase_ref"]}
                                   if isinstance(doc.get("passphrase_ref"), dict) else {})},
                          files=files)
        return rp, list(doc["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{where}: unreadable manifest ({exc})") from None
