"""What each automated restore step checks beforehand and does, keyed by the step's action.

Every action has a check (run for the whole path before anything changes, by ``--dry-run``
and by the path's ``check`` step) and an execution that checks its own prerequisites again
right before it changes anything. A target that cannot be reached yet because an earlier
step of the path brings it back (a revert, a fresh Management Node) is *deferred*: checked
when its step runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from backup_agent.catalog import RestorePoint
from backup_agent.config import Deployment
from backup_agent.errors import AgentError, ApiError, AuthError, CatalogError, NotReadyError
from backup_agent.infinity import InfinityClient, Package
from backup_agent.infinity.backups import command_data
from backup_agent.jobs import node_definition, snapshots
from backup_agent.jobs import passphrase as verifier
from backup_agent.jobs.backup import passphrase_of
from backup_agent.jobs.env import Env
from backup_agent.planner.version import Version
from backup_agent.privfiles import confined, write_private

log = logging.getLogger(__name__)
# Steps after which the Management Node (the target) exists again.
BRINGS_BACK_MANAGEMENT = ("revert-snapshot", "restore-backup", "deploy-management")
RESTART_WAIT = 15 * 60.0  # how long a node may take to restart after backup_restore


@dataclass
class Check:
    """One prerequisite: met or not; ``deferred`` when it can only be checked later."""

    step: int
    what: str
    ok: bool
    detail: str = ""
    deferred: bool = False

    def line(self) -> str:
        """``ok``/``FAIL``/``later`` and what was checked, for the terminal."""
        mark = "later" if self.deferred else ("ok" if self.ok else "FAIL")
        return f"  [{mark:5}] step {self.step}: {self.what}" + (f": {self.detail}" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"step": self.step, "what": self.what, "ok": self.ok, "detail": self.detail,
                "deferred": self.deferred}


@dataclass
class StepContext:
    """What the actions share: the agent's Env, the deployment, the target and the options."""

    env: Env
    deployment: Deployment
    target_url: str | None = None
    force: bool = False
    out_dir: Path | None = None
    last_import: Any = None  # the ImportResult of the newest import-rooms step
    retrying: bool = False  # the step running now was started before (a resumed restore)
    #: After backup_restore the node restarts its services: the next use of the target waits
    #: for it, at most ``restart_wait`` seconds, asking every ``restart_poll`` seconds.
    restarting: bool = False
    restart_wait: float = RESTART_WAIT
    restart_poll: float = 2.0
    say: Callable[[str], None] = log.warning
    _clients: dict[str, InfinityClient] = field(default_factory=dict)

    def target(self) -> InfinityClient:
        """The Management Node the steps act on: ``--target-url`` (own credentials) or the
        deployment's own; once it is back, when a backup_restore restarts it."""
        if not self.target_url:
            client = self.env.client(self.deployment)
        else:
            if self.target_url not in self._clients:
                self._clients[self.target_url] = InfinityClient(replace(self.deployment,
                                                                        url=self.target_url))
            client = self._clients[self.target_url]
        if self.restarting:
            self.restarting = False
            self._wait_back(client)
        return client

    def _wait_back(self, client: InfinityClient) -> None:
        """Wait (bounded, and said) for the node to answer again after its restart."""
        minutes = f"{self.restart_wait / 60:g} min"
        self.say(f"    waiting up to {minutes} for {self.target_name} to restart its services "
                 "after backup_restore")
        start = time.monotonic()
        while True:
            try:
                client.management_vm_status()
            except AuthError:
                raise
            except ApiError as exc:
                if time.monotonic() - start >= self.restart_wait:
                    raise NotReadyError(f"{self.target_name} did not answer within {minutes} of "
                                        f"backup_restore ({exc}): check its console; then "
                                        "resume (`backup-agent restore --resume`)") from exc
                time.sleep(self.restart_poll)
                continue
            self.say(f"    {self.target_name} answers again after "
                     f"{time.monotonic() - start:.0f} s")
            return

    @property
    def target_name(self) -> str:
        return self.target_url or self.deployment.url

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


# -- checks ---------------------------------------------------------------------------------

def _point(ctx: StepContext, n: int, ref: str | None, kind: str,
           checks: list[Check]) -> RestorePoint | None:
    try:
        rp = ctx.env.catalog.restore_point(str(ref))
    except CatalogError as exc:
        checks.append(Check(n, f"{kind} {ref} in the catalog", False, str(exc)))
        return None
    if rp.kind != kind:
        checks.append(Check(n, f"{ref} is a {kind}", False, f"it is a {rp.kind}"))
        return None
    _fetch(ctx, n, rp, checks)
    for f in rp.files:
        problem = ctx.env.store.check(f.key, f.size, f.sha256)
        checks.append(Check(n, f"{rp.id} file {f.name} hashes right", problem is None,
                            f"{problem}: refused, the file is not what was backed up"
                            if problem else f"sha256 {f.sha256[:12]}"))
    if not rp.files:
        checks.append(Check(n, f"{rp.id} has its files", False, "no file recorded"))
    return rp


def _fetch(ctx: StepContext, n: int, rp: RestorePoint, checks: list[Check]) -> None:
    """Local files gone: fetched from a verified off-site copy first (jobs/fetch.py)."""
    from backup_agent.jobs.fetch import ensure_local

    try:
        if store := ensure_local(ctx.env, rp):
            checks.append(Check(n, f"{rp.id} fetched from {store}", True,
                                "its local files were gone; the copy hashes right"))
    except AgentError as exc:
        checks.append(Check(n, f"{rp.id} fetched from its off-site copy", False, str(exc)))


def _passphrase(ctx: StepContext, n: int, rp: RestorePoint, checks: list[Check]) -> None:
    if why := verifier.Availability(ctx.deployment).problem(rp):  # recorded by reference
        checks.append(Check(n, "passphrase is the backup's", False, why))
        return
    try:
        secret = passphrase_of(ctx.deployment)
    except AgentError as exc:
        checks.append(Check(n, "passphrase available", False, str(exc)))
        return
    check = rp.data.get("passphrase_check")
    if not isinstance(check, dict):
        checks.append(Check(n, "passphrase available", True, "no check recorded with this "
                            "backup: the Management Node checks it at upload"))
        return
    ok = verifier.matches(secret, check)
    checks.append(Check(n, "passphrase is the backup's", ok, "" if ok else
                        f"the configured passphrase is not the one {rp.id} was made with: set "
                        f"deployments.{ctx.deployment.name}.passphrase_* to that passphrase"))


def _target_version(ctx: StepContext, n: int, checks: list[Check], defer: bool) -> str | None:
    try:
        status = ctx.target().management_vm_status()
    except ApiError as exc:
        if defer:
            checks.append(Check(n, f"target {ctx.target_name} reachable", True,
                                "not yet: checked when this step runs", deferred=True))
        else:
            checks.append(Check(n, f"target {ctx.target_name} reachable", False, str(exc)))
        return None
    version = str((status[0] if status else {}).get("version") or "unknown")
    checks.append(Check(n, f"target {ctx.target_name} reachable", True, f"version {version}"))
    return version


def _fresh(ctx: StepContext, n: int, checks: list[Check]) -> None:
    """A backup_restore replaces the whole configuration: the target must hold none yet."""
    from backup_agent.infinity.client import CONFERENCE

    rooms = ctx.target().count(CONFERENCE)
    checks.append(Check(n, f"target {ctx.target_name} is a fresh Management Node", not rooms
                        or ctx.force, "" if not rooms else
                        f"it has {rooms} room(s): restoring would replace them (forced with "
                        "--force)" if ctx.force else f"it has {rooms} room(s): is it the right "
                        "node? a restore replaces its whole configuration; --force to proceed"))


def check_restore_backup(ctx: StepContext, n: int, ref: str | None, defer: bool) -> list[Check]:
    """Backup in the catalog and hashing right, passphrase, target reachable, same version."""
    checks: list[Check] = []
    rp = _point(ctx, n, ref, "config-backup", checks)
    if rp is None:
        return checks
    _passphrase(ctx, n, rp, checks)
    if not ctx.target_url:
        checks.append(Check(n, "target given", False, "pass --target-url URL of the fresh "
                            "Management Node (the deployment's credentials are used)"))
        return checks
    version = _target_version(ctx, n, checks, defer)
    if version is not None:
        _fresh(ctx, n, checks)
        checks.append(_same_release(ctx, n, version, rp))
    return checks


def _same_release(ctx: StepContext, n: int, version: str, rp: RestorePoint) -> Check:
    """The target must run the backup's release; another build of it is a note, not a blocker."""
    target, backup = Version.parse(version), Version.parse(rp.version, rp.build)
    wanted = str(backup) if backup else rp.version
    what = f"target version {version} is the backup's release {wanted}"
    if target is None or backup is None:  # unreadable: only the very same text is known good
        same, note = version == rp.version, ""
    else:
        same = target.same_release(backup)
        note = "" if target.same_build(backup) else (
            f"note: build {target.build} on the target, {backup.build} in the backup (same "
            "release): restored as is")
    if same:
        return Check(n, what, True, note)
    return Check(n, what, ctx.force, "different releases: forced with --force" if ctx.force
                 else f"deploy the fresh node at {wanted}, or pass --force")


def check_revert_snapshot(ctx: StepContext, n: int, ref: str | None, defer: bool) -> list[Check]:
    """The snapshot is in the catalog and still exists at its provider."""
    checks: list[Check] = []
    try:
        rp = snapshots.find(ctx.env, str(ref))
    except AgentError as exc:
        return [Check(n, f"snapshot {ref} in the catalog", False, str(exc))]
    exists = snapshots.probe(ctx.env, rp)
    checks.append(Check(n, f"snapshot {rp.id} exists at provider {rp.provider}", exists is True,
                        {True: f"provider id {rp.data.get('provider_id')}",
                         False: "it no longer exists there",
                         None: "the provider cannot say (see the log)"}[exists]))
    return checks


def check_import_rooms(ctx: StepContext, n: int, ref: str | None, defer: bool) -> list[Check]:
    """The room export is in the catalog and hashes right; the target is reachable."""
    checks: list[Check] = []
    if _point(ctx, n, ref, "room-export", checks) is not None:
        _target_version(ctx, n, checks, defer)
    return checks


def check_deployment_file(ctx: StepContext, n: int, ref: str | None, defer: bool) -> list[Check]:
    """The Management Node is reachable and still defines the node (or a saved definition)."""
    checks: list[Check] = []
    if _target_version(ctx, n, checks, defer) is None:
        return checks
    defined = (ctx.target().worker_vm(str(ref)) is not None or _saved_definition(ctx, str(ref))
               or _inventory_definition(ctx, str(ref)))
    checks.append(Check(n, f"{ref} defined on the Management Node", bool(defined), "" if defined
                        else "define it in the admin UI (Platform > Conferencing Nodes) first"))
    return checks


CHECKS: dict[str, Callable[[StepContext, int, str | None, bool], list[Check]]] = {
    "restore-backup": check_restore_backup, "revert-snapshot": check_revert_snapshot,
    "import-rooms": check_import_rooms, "deployment-file": check_deployment_file,
}


def preflight(ctx: StepContext, steps: list[dict[str, Any]], start: int = 1) -> list[Check]:
    """Check every automated step from step ``start`` on; changes nothing."""
    checks: list[Check] = []
    brought_back = False
    for n, step in enumerate(steps, 1):
        if n >= start and step["action"] in CHECKS:
            checks += CHECKS[step["action"]](ctx, n, step.get("ref"), brought_back)
        elif n >= start and step["automated"] and step["action"] != "check":
            checks.append(Check(n, f"this agent can run {step['action']!r}", False,
                                "unknown action (a newer planner?): do the step by hand"))
        brought_back = brought_back or step["action"] in BRINGS_BACK_MANAGEMENT
    return checks


def problems(checks: list[Check]) -> list[Check]:
    """The checks that fail."""
    return [c for c in checks if not c.ok]


def require(checks: list[Check]) -> None:
    """Raise ``NotReadyError`` naming every failed check."""
    bad = problems(checks)
    if bad:
        raise NotReadyError("not ready: " + "; ".join(
            f"step {c.step}: {c.what}" + (f" ({c.detail})" if c.detail else "") for c in bad))


# -- actions --------------------------------------------------------------------------------

def do_restore_backup(ctx: StepContext, ref: str) -> str:
    """Upload the config backup to the target with ``backup_restore``."""
    require(check_restore_backup(ctx, 0, ref, defer=False))
    rp = ctx.env.catalog.restore_point(ref)
    f, store = rp.files[0], ctx.env.store
    package = Package(f.name, f.size, lambda: store.open(f.key))
    answer = ctx.target().restore_backup(package, passphrase_of(ctx.deployment))
    ctx.restarting = True  # the node restarts its services now: the next step waits for it
    result = command_data(answer)
    message = result.get("message") if isinstance(result, dict) else None
    return (f"config backup {rp.id} (version {rp.version}) uploaded to {ctx.target_name} with "
            f"backup_restore" + (f": {message}" if message else ""))


def do_revert_snapshot(ctx: StepContext, ref: str) -> str:
    """Revert the VM through the snapshot's provider."""
    require(check_revert_snapshot(ctx, 0, ref, defer=False))
    result = snapshots.revert(ctx.env, ref)
    return f"{result['node']} reverted to snapshot {ref} (provider id {result['provider_id']})"


def do_import_rooms(ctx: StepContext, ref: str) -> str:
    """Re-create the rooms of the export the target lacks."""
    from backup_agent.jobs.export import load_rooms
    from backup_agent.jobs.import_rooms import import_rooms

    checks: list[Check] = []
    rp = _point(ctx, 0, ref, "room-export", checks)
    require(checks)
    if rp is None:  # _point said why in a failed check; require raised already
        raise NotReadyError(f"room export {ref} cannot be read")
    # A retried import may have been cut off after its rooms and before their participants.
    ctx.last_import = import_rooms(ctx.target(), load_rooms(ctx.env, rp),
                                   complete_existing=ctx.retrying)
    return f"from {rp.id} into {ctx.target_name}: " + ctx.last_import.summary()


def _definition_file(ctx: StepContext, node: str) -> Path | None:
    return confined(ctx.out_dir, node, ".definition.json") if ctx.out_dir else None


def deployment_file(out_dir: Path, node: str) -> Path:
    """Where the deployment file of ``node`` (a name from the Management Node) is written."""
    return confined(out_dir, node, ".xml")


def _saved_definition(ctx: StepContext, node: str) -> dict[str, Any] | None:
    path = _definition_file(ctx, node)
    if path is None or not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _inventory_definition(ctx: StepContext, node: str) -> dict[str, Any] | None:
    """The node's writable definition as the newest readable inventory recorded it."""
    from backup_agent.jobs import inventory

    for rp in ctx.env.catalog.restore_points(ctx.deployment.name, "inventory"):
        try:
            nodes = inventory.load(ctx.env, rp).get("conferencing_nodes", [])
        except AgentError:
            continue
        found = next((n.get("definition") for n in nodes if n.get("name") == node), None)
        return found if isinstance(found, dict) and found.get("address") else None
    return None


def do_deployment_file(ctx: StepContext, ref: str) -> str:
    """Define the node again as MANUAL-PROVISION-ONLY and save its deployment file."""
    if ctx.out_dir is None:
        raise NotReadyError("no directory for the deployment file")
    client = ctx.target()
    node = client.worker_vm(ref)
    if node is not None:
        # Saved first: if the new definition fails after the delete, a resume redefines it.
        write_private(confined(ctx.out_dir, ref, ".definition.json"),
                      json.dumps(node, indent=1).encode())
        client.delete_worker_vm(node["id"])
    else:
        node = _saved_definition(ctx, ref) or _inventory_definition(ctx, ref)
        if node is None:
            raise NotReadyError(f"{ref} is not defined on the Management Node: define it in the "
                                "admin UI (Platform > Conferencing Nodes) first")
    # Writable fields only, and never a secret read back from the node (it is encrypted).
    body, notes = node_definition.body(node, ctx.deployment, node_definition.writable_fields(client))
    if body.get("password"):
        client.transport.add_secret(str(body["password"]))
    body.pop("deployment_type", None)  # the client asks for MANUAL-PROVISION-ONLY
    _, xml = client.create_deployment_file(body)
    out = deployment_file(ctx.out_dir, ref)
    write_private(out, xml)
    return f"deployment file for {ref} written to {out}" + "".join(f"; {n}" for n in notes)


ACTIONS: dict[str, Callable[[StepContext, str], str]] = {
    "restore-backup": do_restore_backup, "revert-snapshot": do_revert_snapshot,
    "import-rooms": do_import_rooms, "deployment-file": do_deployment_file,
}
