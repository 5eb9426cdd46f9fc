"""``backup-agent prune [--dry-run] [--json]``: apply retention, showing why each point stays."""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.cli.common import Context, add_json, combined_exit_code, open_env, run_exit_code
from backup_agent.errors import EXIT_OK, UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("prune", help="apply [retention]: list every restore point, keep or remove, "
                                     "and the rule that kept it")
    p.add_argument("--deployment", "-d", metavar="NAME", help="only this deployment (default: all)")
    p.add_argument("--dry-run", action="store_true", help="show the decision, remove nothing")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.jobs.retention import prune

    cfg = ctx.config
    deps = [cfg.deployment(args.deployment)] if args.deployment else list(cfg.deployments)
    configured = cfg.prunes
    if not configured and not args.dry_run:
        raise UsageError("no [retention] table in the configuration: nothing is pruned "
                         "(prune --dry-run shows what is kept)")
    env = open_env(ctx)
    results: list[dict[str, Any]] = []
    codes: list[int] = []
    try:
        for dep in deps:
            decisions, prune_run = prune(env, dep, dry_run=args.dry_run)
            codes.append(run_exit_code(prune_run) if prune_run else EXIT_OK)
            results.append({"deployment": dep.name, "dry_run": args.dry_run, "configured": configured,
                            "points": [d.to_dict() for d in decisions],
                            "run": prune_run.to_dict() if prune_run else None})
    finally:
        env.close()
    ctx.emit(results, lambda: "\n\n".join(_text(r) for r in results))
    return combined_exit_code(codes) if codes else EXIT_OK


def _text(r: dict[str, Any]) -> str:
    verb = "would remove" if r["dry_run"] else "removed"
    lines = [f"{r['deployment']}:" + ("" if r["configured"] else " no [retention] configured, "
                                      "nothing is pruned")]
    stores = list(dict.fromkeys(p["store"] for p in r["points"]))
    for store in stores:
        points = [p for p in r["points"] if p["store"] == store]
        if store != "local" or len(stores) > 1:
            lines.append(f" {store}:")
        for p in points:
            action = "keep  " if p["action"] == "keep" else "REMOVE"
            why = ', '.join(p['reasons'])
            rule = "" if p["action"] == "remove" or "locked_until" in p or why.startswith("last") \
                else "rule: "
            lines.append(f"  {action} {p['id']:40} {p['kind']:14} {p['taken_at']}  {rule}{why}")
        removed = [p for p in points if p["action"] == "remove"]
        locked = sum("locked_until" in p for p in points)
        lines.append(f"  {len(points) - len(removed)} kept, {len(removed)} {verb}"
                     + (f", {locked} locked" if locked else ""))
    if r["run"]:
        lines += [f"  failed: {i['item']}: {i['reason']}" for i in r["run"]["items"]
                  if i["outcome"] == "failed"]
    return "\n".join(lines)
