"""``backup-agent evidence``: what the planner sees, as JSON, to replay anywhere with ``plan --evidence``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from backup_agent.cli.common import Context, add_deployment, add_failure_args, down_since_of, open_env


def register(sub: Any) -> None:
    p = sub.add_parser("evidence", help="print the planner's evidence JSON for a deployment")
    add_deployment(p)
    add_failure_args(p)
    p.add_argument("--no-probe", action="store_true",
                   help="use the catalog only: do not contact the Management Node or providers")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.planner import parse_evidence
    from backup_agent.service.evidence import build_evidence

    down_since = down_since_of(args)
    with open_env(ctx) as env:
        data = build_evidence(env, args.deployment, args.failed, down_since,
                              probe=not args.no_probe)
    parse_evidence(data)  # what we print must be what the planner accepts
    json.dump(data, ctx.out, indent=2)
    ctx.out.write("\n")
    return 0
