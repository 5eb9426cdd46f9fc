"""The support bundle: one archive to attach to a Pexip support ticket.

It holds the evidence the planner saw, the plan (JSON and the Markdown runbook), the recent
runs and restore journals from the catalog, the agent's recent log, and — when the Management
Node answers — Pexip's own diagnostic bundle. No secret is in any of it by construction (the
catalog and logs never hold one); every text member is still scrubbed of the configured
secrets as a second guard.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from backup_agent.catalog import iso
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, StoreError
from backup_agent.jobs.env import Env
from backup_agent.journal import Journal
from backup_agent.privfiles import write_private

log = logging.getLogger(__name__)
LOG_TAIL_BYTES = 2_000_000


def known_secrets(env: Env, deployment: Deployment) -> list[str]:
    """Values of the secrets the configuration names, where they can be read."""
    out = []
    secrets = [deployment.password, deployment.passphrase, deployment.private_key]
    for pc in env.config.providers.values():
        secrets.extend(pc.secrets.values())
    for secret in secrets:
        if secret is None:
            continue
        try:
            out.append(secret.value())
        except AgentError:
            continue
    return [s for s in out if len(s) >= 4]


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[secret removed]")
    return text


def journals(env: Env, deployment: Deployment) -> list[dict[str, Any]]:
    """The deployment's recent restore journals: the incident record."""
    from backup_agent.jobs.restore import settle

    settle(env, deployment.name)
    return [r.to_dict() for r in Journal(env.catalog).restores(deployment.name)]


def build(env: Env, deployment: Deployment, out: Path, failed: list[str],
          down_since: datetime | None, diagnostic_hours: int = 24) -> dict[str, Any]:
    """Write the bundle to ``out`` (a .tar.gz, 0600, atomically); returns its manifest."""
    from backup_agent.jobs.evidence import collect
    from backup_agent.planner import make_plan, parse_evidence, to_markdown

    secrets = known_secrets(env, deployment)
    members: dict[str, bytes] = {}
    notes: list[str] = []
    try:
        evidence = collect(env, deployment, failed, down_since)
        plan = make_plan(parse_evidence(evidence))
        members["evidence.json"] = json.dumps(evidence, indent=2).encode()
        members["plan.json"] = json.dumps(plan.to_dict(), indent=2).encode()
        members["plan.md"] = to_markdown(plan).encode()
    except AgentError as exc:
        notes.append(f"no evidence or plan: {exc}")
    runs = [r.to_dict() for r in env.catalog.runs(deployment.name, limit=100)]
    members["runs.json"] = json.dumps(runs, indent=2).encode()
    members["restore-journal.json"] = json.dumps(journals(env, deployment), indent=2).encode()
    if env.log_path.exists():
        with open(env.log_path, "rb") as fh:
            fh.seek(max(0, env.log_path.stat().st_size - LOG_TAIL_BYTES))
            members["agent.log"] = fh.read()
    members = {k: scrub(v.decode("utf-8", "replace"), secrets).encode() for k, v in members.items()}
    diag = _diagnostic_bundle(env, deployment, diagnostic_hours, notes)
    try:
        manifest = {"deployment": deployment.name, "created_at": iso(env.clock()),
                    "members": sorted([*members, *(["pexip-diagnostic-bundle.tgz"] if diag else [])]),
                    "notes": notes}
        members["manifest.json"] = json.dumps(manifest, indent=2).encode()
        _write_tar(out, members, diag, env.clock())
    finally:
        # Pexip's logs, possibly large: never left in the temporary directory.
        if diag:
            diag.unlink(missing_ok=True)
    return manifest


def _diagnostic_bundle(env: Env, deployment: Deployment, hours: int, notes: list[str]) -> Path | None:
    tmp = Path(tempfile.mkstemp(prefix="pexip-diag-", suffix=".tgz")[1])
    try:
        with open(tmp, "wb") as fh:
            size = env.client(deployment).diagnostic_bundle(fh, hours)
        log.info("Pexip diagnostic bundle: %d bytes", size)
        return tmp
    except AgentError as exc:
        notes.append(f"no Pexip diagnostic bundle: {exc}")
        tmp.unlink()
        return None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_tar(out: Path, members: dict[str, bytes], diag: Path | None, when: datetime) -> None:
    def write(fh: BinaryIO) -> None:
        with tarfile.open(fileobj=fh, mode="w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(f"support-bundle/{name}")
                info.size, info.mode, info.mtime = len(data), 0o600, int(when.timestamp())
                tar.addfile(info, io.BytesIO(data))
            if diag:
                tar.add(diag, arcname="support-bundle/pexip-diagnostic-bundle.tgz")

    try:
        write_private(out.resolve(), write)
    except StoreError as exc:
        raise StoreError(f"cannot write the support bundle: {exc}") from None
