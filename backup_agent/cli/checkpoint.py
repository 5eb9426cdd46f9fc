"""``backup-agent checkpoint create|show|release|list`` (``pre-upgrade`` = ``checkpoint create``).

Exit codes: ``create`` 0 when ready, 1 when not (the reasons on stderr); 4 when a checkpoint
is already running; ``release`` 4 when the upgrade has not happened or is not healthy (unless
``--force``); an unknown id 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backup_agent.cli.common import Context, add_deployment, add_json, open_env
from backup_agent.errors import EXIT_OK, UsageError
from backup_agent.jobs import CHECKPOINT_GATES as GATES


def _create_args(p: argparse.ArgumentParser) -> None:
    add_deployment(p)
    p.add_argument("--target-version", metavar="V", help="the version to upgrade to (e.g. 39.1)")
    p.add_argument("--waive", action="append", default=[], metavar="GATE",
                   help=f"go on although this gate fails (recorded); one of {', '.join(GATES)}")
    p.add_argument("--parallel", type=int, default=5, metavar="N", help="snapshots at once (5)")
    add_json(p)
    p.set_defaults(func=create)


def register(sub: Any) -> None:
    p = sub.add_parser("checkpoint", help="pre-upgrade checkpoint: verified restore point and go/no-go")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    _create_args(verbs.add_parser("create", help="gates, backup, export, inventory, snapshots"))
    _create_args(sub.add_parser("pre-upgrade", help="the same as `checkpoint create`"))
    s = verbs.add_parser("show", help="one checkpoint: gates, parts, ready and why")
    s.add_argument("checkpoint_id", metavar="ID")
    add_json(s)
    s.set_defaults(func=show)
    r = verbs.add_parser("release", help="after a healthy upgrade: delete its snapshots")
    r.add_argument("checkpoint_id", metavar="ID")
    r.add_argument("--dry-run", action="store_true", help="say what would be deleted")
    r.add_argument("--force", action="store_true", help="release although the upgrade is not done")
    add_json(r)
    r.set_defaults(func=release)
    ls = verbs.add_parser("list", help="every checkpoint in the catalog")
    add_deployment(ls)
    add_json(ls)
    ls.set_defaults(func=list_)


def create(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.service import checkpoint

    if args.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    dep = ctx.config.deployment(args.deployment)
    with open_env(ctx) as env:
        result = checkpoint.create(env, dep, args.target_version, args.waive, args.parallel)
    ctx.emit(result, lambda: _text(result, reasons=False))  # they go to stderr, below
    for reason in result["reasons"]:
        sys.stderr.write(f"backup-agent: checkpoint {result['id']}: not ready: {reason}\n")
    return checkpoint.exit_code(result)


def _text(c: dict[str, Any], reasons: bool = True) -> str:
    head = "READY to upgrade" if c["ready"] else "NOT READY to upgrade"
    target = f" to {c['target_version']}" if c.get("target_version") else ""
    lines = [f"checkpoint {c['id']} of {c['deployment']}: {head}{target} "
             f"(running {c.get('version_before') or 'unknown version'})", "gates:"]
    for g in c["gates"]:
        mark = "pass" if g["passed"] else "WAIVED" if g["waived"] else "FAIL"
        lines.append(f"  {mark:6} {g['gate']:10} {g['reason']}")
    lines.append("parts:" if c["parts"] else "parts: none taken")
    lines += [f"  {p['id']:40} {p['kind']:14} {'verified' if p['verified'] else 'NOT verified'}"
              for p in c["parts"]]
    lines += [f"note: {a}" for a in c.get("advice", [])]
    if c.get("released_at"):
        lines.append(f"released at {c['released_at']}")
    lines += [f"not ready: {r}" for r in c["reasons"]] if reasons else []
    return "\n".join(lines)


def show(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.service import checkpoint

    with open_env(ctx) as env:
        result = checkpoint.show(env, args.checkpoint_id)
    ctx.emit(result, lambda: _text(result))
    return EXIT_OK


def release(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.service import checkpoint

    with open_env(ctx) as env:
        result = checkpoint.release(env, args.checkpoint_id, args.dry_run, args.force)

    def text() -> str:
        if "already_released_at" in result:
            return f"checkpoint {result['id']} was released at {result['already_released_at']}"
        rows = result["would_delete" if result["dry_run"] else "deleted"]
        verb = "would delete" if result["dry_run"] else "deleted"
        out = [f"{verb} {s['id']} of {s['node']} (provider id {s['provider_id']})" for s in rows]
        out = out or [f"checkpoint {result['id']} has no snapshot to delete"]
        if result.get("forced") and result.get("health"):
            out.append(f"forced despite: {'; '.join(result['health'])}")
        if not result["dry_run"]:
            out.append(f"checkpoint {result['id']} released; its backup and export follow "
                       "the normal retention")
        return "\n".join(out)

    ctx.emit(result, text)
    return EXIT_OK


def list_(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.service import checkpoint

    dep = ctx.config.deployment(args.deployment).name if args.deployment else None
    with open_env(ctx) as env:
        rows = checkpoint.list_(env, dep)

    def text() -> str:
        if not rows:
            return "no checkpoints in the catalog"
        out = [f"{'ID':40} {'TAKEN':21} {'BEFORE':22} {'TARGET':8} {'READY':6} RELEASED"]
        out += [f"{r['id']:40} {r['taken_at']:21} {r.get('version_before') or '-':22} "
                f"{r.get('target_version') or '-':8} {'yes' if r.get('ready') else 'no':6} "
                f"{r.get('released_at') or 'no'}" for r in rows]
        return "\n".join(out)

    ctx.emit(rows, text)
    return EXIT_OK
