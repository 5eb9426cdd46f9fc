"""The break-glass kit: one age-encrypted tar with what a P1 needs, proven to decrypt.

``kit --checkpoint ID --out FILE`` bundles the config backup ``ID`` (fetched from a copy when
its local bytes are gone), the room export and inventory taken at or before it (else the
newest), and the runbook for a lost Management Node rendered from the catalog. The tar is
encrypted to the ``[encryption]`` recipients and then decrypted with the configured identity
and compared, byte for byte by sha256, before the kit is given its name: a kit nobody can
open is never left behind. Open it with ``age -d -i IDENTITY FILE | tar x``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

from backup_agent.catalog import Kind, RestorePoint, iso
from backup_agent.config import Deployment
from backup_agent.crypto import decrypt_stream, encrypt_stream
from backup_agent.errors import ConfigError, IntegrityError, StoreError, UsageError
from backup_agent.jobs.env import Env

README = """Break-glass kit of deployment {deployment}, made {made} by backup-agent.

  {checkpoint}/   config backup {checkpoint} (encrypted by the Management Node: it needs
                  the backup passphrase of deployments.{deployment}.passphrase_*)
  {export}/       room export (rooms.json re-imports with `backup-agent restore`)
  {inventory}/    inventory of the nodes and locations
  runbook.md      what to do if the Management Node is lost, from the catalog at {made}
  contents.json   every file's sha256

Opened with: age -d -i IDENTITY_FILE kit.age | tar x
"""


class _Hasher:
    def __init__(self) -> None:
        self.digest, self.size = hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def _around(env: Env, dep: str, kind: Kind, rp: RestorePoint) -> RestorePoint | None:
    points = env.catalog.restore_points(dep, str(kind))
    return next((p for p in points if p.taken_at <= rp.taken_at), points[0] if points else None)


def _runbook(env: Env, deployment: Deployment) -> str:
    from backup_agent.jobs.evidence import collect
    from backup_agent.planner import make_plan, parse_evidence, to_markdown

    evidence = collect(env, deployment, ["management"], env.clock(), probe=False)
    return str(to_markdown(make_plan(parse_evidence(evidence))))


def _add(tar: tarfile.TarFile, name: str, data: bytes, contents: dict[str, Any]) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, 0
    tar.addfile(info, io.BytesIO(data))
    contents[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _add_point(env: Env, tar: tarfile.TarFile, rp: RestorePoint, contents: dict[str, Any]) -> None:
    if env.config.copies:
        from backup_agent.jobs.fetch import ensure_local

        ensure_local(env, rp)
    for f in rp.files:
        if (problem := env.store.check(f.key, f.size, f.sha256)) is not None:
            raise IntegrityError(f"{rp.id} file {f.name}: {problem}; not put in a kit")
        info = tarfile.TarInfo(f"{rp.id}/{f.name}")
        info.size, info.mode, info.mtime = f.size, 0o600, 0
        with env.store.open(f.key) as fh:
            tar.addfile(info, fh)
        contents[info.name] = {"sha256": f.sha256, "size": f.size}


def _parts(env: Env, rp: RestorePoint) -> dict[Kind, RestorePoint]:
    """A checkpoint's backup, export and inventory, by kind; {} for a config backup."""
    if rp.kind is not Kind.CHECKPOINT:
        return {}
    found = {Kind(p["kind"]): env.catalog.restore_point(str(p["id"]))
             for p in rp.data.get("parts", []) if p.get("kind") != "snapshot"}
    if Kind.CONFIG_BACKUP not in found:
        raise UsageError(f"--checkpoint {rp.id}: the checkpoint has no config backup (see "
                         f"`backup-agent checkpoint show {rp.id}`)")
    return found


def make_kit(env: Env, deployment: Deployment, checkpoint: str, out: Path) -> dict[str, Any]:
    """Write the kit to ``out`` (never over an existing file); what it holds."""
    enc = env.config.encryption
    if enc is None or not enc.identity_file:
        raise ConfigError("kit: set [encryption] recipients and identity_file (the kit is "
                          "encrypted to the recipients and proven to decrypt with the identity)")
    rp = env.catalog.restore_point(checkpoint)
    if rp.kind not in (Kind.CONFIG_BACKUP, Kind.CHECKPOINT) or rp.deployment != deployment.name:
        raise UsageError(f"--checkpoint {checkpoint}: a {rp.kind} of {rp.deployment}, not a "
                         f"config backup of {deployment.name} (see `backup-agent list`)")
    if out.exists():
        raise UsageError(f"--out {out}: already exists; not overwritten")
    parts = _parts(env, rp)  # a checkpoint (jobs/checkpoint.py) names its own parts
    rp = parts.get(Kind.CONFIG_BACKUP, rp)
    export = parts.get(Kind.ROOM_EXPORT) or _around(env, deployment.name, Kind.ROOM_EXPORT, rp)
    inventory = parts.get(Kind.INVENTORY) or _around(env, deployment.name, Kind.INVENTORY, rp)
    tmp_tar, tmp_out = out.with_name(f".{out.name}.tar-tmp"), out.with_name(f".{out.name}.tmp")
    try:
        contents = _write_tar(env, deployment, (rp, export, inventory), tmp_tar)
        with open(tmp_tar, "rb") as src, _private(tmp_out) as dst:
            encrypt_stream(src, dst, enc)
        _prove(tmp_tar, tmp_out, env)
        os.link(tmp_out, out)  # fails, keeping what is there, if ``out`` appeared meanwhile
    except OSError as exc:
        raise StoreError(f"--out {out}: {exc.strerror or exc}") from None
    finally:
        for tmp in (tmp_tar, tmp_out):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return {"kit": str(out), "checkpoint": rp.id, "room_export": export.id if export else None,
            "inventory": inventory.id if inventory else None, "files": sorted(contents),
            "bytes": out.stat().st_size, "decrypts": True}


def _write_tar(env: Env, deployment: Deployment,
               points: tuple[RestorePoint, RestorePoint | None, RestorePoint | None],
               path: Path) -> dict[str, Any]:
    """The kit's plain tar at ``path`` (0600); each member's sha256 and size."""
    rp, export, inventory = points
    contents: dict[str, Any] = {}
    with _private(path) as fh, tarfile.open(fileobj=fh, mode="w") as tar:
        for point in points:
            if point is not None:
                _add_point(env, tar, point, contents)
        _add(tar, "runbook.md", _runbook(env, deployment).encode(), contents)
        _add(tar, "README.txt", README.format(
            deployment=deployment.name, made=iso(env.clock()), checkpoint=rp.id,
            export=export.id if export else "(no room export)",
            inventory=inventory.id if inventory else "(no inventory)").encode(), contents)
        _add(tar, "contents.json", json.dumps(contents, indent=2, sort_keys=True).encode(), {})
    return contents


def _prove(plain: Path, sealed: Path, env: Env) -> None:
    """IntegrityError unless ``sealed`` decrypts with the identity to exactly ``plain``."""
    want = hashlib.sha256()
    with open(plain, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            want.update(chunk)
    got = _Hasher()
    try:
        with open(sealed, "rb") as fh:
            decrypt_stream(fh, got, env.config.encryption)
    except IntegrityError:
        raise IntegrityError("kit: it does not decrypt with encryption.identity_file (is the "
                             "identity one of the recipients?); no kit written") from None
    if got.digest.hexdigest() != want.hexdigest():
        raise IntegrityError("kit: what decrypts is not what was written; no kit written")


@contextlib.contextmanager
def _private(path: Path) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        yield fh
