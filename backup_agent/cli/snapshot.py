"""``backup-agent snapshot create|list|delete|revert``: VM snapshots through providers."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from backup_agent.catalog import iso
from backup_agent.cli.common import (
    Context,
    add_deployment,
    add_json,
    open_env,
    report_run,
    whole_number,
)
from backup_agent.errors import EXIT_OK, AgentError, UsageError

# Changes to VMs are logged while the Env is open, so they reach agent.log (and support bundles).
log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("snapshot", help="VM snapshots of deployment nodes")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    c = verbs.add_parser("create", help="snapshot one or more nodes (in parallel)")
    c.add_argument("nodes", nargs="+", metavar="NODE", help="node name from the deployment's nodes")
    add_deployment(c)
    c.add_argument("--reason", default="manual", help="why (stored in the snapshot's tags)")
    c.add_argument("--parallel", type=whole_number(1, 1000), default=5, metavar="N",
                   help="snapshots at once (5)")
    add_json(c)
    c.set_defaults(func=create)
    ls = verbs.add_parser("list", help="snapshots in the catalog")
    add_deployment(ls)
    ls.add_argument("--node", help="only this node")
    ls.add_argument("--live", action="store_true", help="ask each provider whether it still exists")
    add_json(ls)
    ls.set_defaults(func=list_)
    d = verbs.add_parser("delete", help="delete a snapshot at its provider")
    d.add_argument("snapshot_id", metavar="SNAPSHOT_ID", help="the id `snapshot list` shows")
    d.add_argument("--dry-run", action="store_true", help="check and say what would go")
    add_json(d)
    d.set_defaults(func=delete)
    r = verbs.add_parser("revert", help="revert a node's VM to a snapshot")
    r.add_argument("snapshot_id", metavar="SNAPSHOT_ID")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_json(r)
    r.set_defaults(func=revert)


def create(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs import snapshots

    if args.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    dep = ctx.config.deployment(args.deployment)
    nodes = [dep.node(n) for n in dict.fromkeys(args.nodes)]
    env = open_env(ctx)
    try:
        run = snapshots.take(env, dep, nodes, args.reason, args.parallel)
    finally:
        env.close()
    lines = [f"{dep.name}: snapshot {run.outcome}"]
    lines += [f"  {s['node']}: {s['id']} (provider id {s['provider_id']})"
              for s in run.summary.get("snapshots", [])]
    return report_run(ctx, run, lines)


def list_(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs import snapshots

    dep = ctx.config.deployment(args.deployment) if args.deployment else None
    env = open_env(ctx)
    try:
        points = env.catalog.restore_points(dep.name if dep else None, "snapshot", args.node)
        rows = []
        for rp in points:
            row = rp.to_dict()
            if args.live:
                row["exists"] = snapshots.probe(env, rp)
            rows.append(row)
    finally:
        env.close()

    def text() -> str:
        if not rows:
            return "no snapshots in the catalog"
        out = [f"{'ID':40} {'NODE':12} {'PROVIDER':12} {'TAKEN':21} PROVIDER ID"]
        for rp, row in zip(points, rows, strict=True):
            gone = {True: "", False: "  (gone at provider)", None: "  (provider not answering)"}
            out.append(f"{rp.id:40} {rp.node or '-':12} {rp.provider or '-':12} "
                       f"{iso(rp.taken_at):21} {rp.data.get('provider_id')}"
                       f"{gone[row['exists']] if 'exists' in row else ''}")
        return "\n".join(out)

    ctx.emit(rows, text)
    return EXIT_OK


def delete(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs import snapshots

    env = open_env(ctx)
    try:
        try:
            result = snapshots.delete(env, args.snapshot_id, dry_run=args.dry_run)
        except AgentError as exc:
            log.error("snapshot delete %s failed: %s", args.snapshot_id, exc)
            raise
        if not result["dry_run"]:
            log.info("snapshot %s deleted at provider %s (provider id %s)%s", result["id"],
                     result["provider"], result["provider_id"],
                     "; it was already gone there" if result["already_gone"] else "")
    finally:
        env.close()
    if result["dry_run"]:
        text = (f"would delete {result['id']} (provider id {result['provider_id']})"
                + (" — already gone at the provider" if result["already_gone"] else ""))
    else:
        text = f"deleted {result['id']}" + (" (was already gone)" if result["already_gone"] else "")
    ctx.emit(result, text)
    return EXIT_OK


def revert(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs import snapshots

    env = open_env(ctx)
    try:
        rp = snapshots.find(env, args.snapshot_id)
        sys.stderr.write("Pexip advises contacting support before rolling back to a VM "
                         "snapshot: configuration changes made since it was taken are lost.\n")
        ctx.confirm(f"Revert {rp.node} to {rp.id} taken {iso(rp.taken_at)}?")
        log.info("reverting node %s to snapshot %s taken %s (provider %s, id %s)", rp.node,
                 rp.id, iso(rp.taken_at), rp.provider, rp.data.get("provider_id"))
        try:
            result = snapshots.revert(env, args.snapshot_id)
        except AgentError as exc:
            log.error("revert of %s to snapshot %s failed: %s", rp.node, rp.id, exc)
            raise
        log.info("node %s reverted to snapshot %s", result["node"], result["id"])
    finally:
        env.close()
    ctx.emit(result, f"reverted {result['node']} to {result['id']}")
    return EXIT_OK
