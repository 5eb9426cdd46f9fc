"""``backup-agent status``: health, last contact, autonomy clock and newest restore points.

A health check: exit 0 healthy, 10 degraded, 11 down (the worst deployment's); the service
layer (``backup_agent.service.status``) assembles it, this module parses and renders.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backup_agent.cli.common import Context, add_json, open_env
from backup_agent.errors import EXIT_DEGRADED, EXIT_DOWN, EXIT_OK
from backup_agent.planner.clock import hours_text

HEALTH_EXIT = {"healthy": EXIT_OK, "degraded": EXIT_DEGRADED, "down": EXIT_DOWN}


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="health (exit 0 healthy, 10 degraded, 11 down), last "
                                      "contact, autonomy clock and newest restore points")
    p.add_argument("--deployment", "-d", metavar="NAME", help="only this deployment")
    p.add_argument("--no-probe", action="store_true", help="catalog only; do not contact anything")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.service.status import statuses, worst

    cfg = ctx.config
    deps = [cfg.deployment(args.deployment)] if args.deployment else list(cfg.deployments)
    env = open_env(ctx)
    try:
        result = statuses(env, deps, probe_node=not args.no_probe)
    finally:
        env.close()
    for s in result:
        if "error" in s:  # one deployment's error must not hide the others' status
            sys.stderr.write(f"backup-agent: {s['deployment']}: {s['error']}\n")
    ctx.emit(result, lambda: "\n\n".join(render(s) for s in result))
    return HEALTH_EXIT[worst([s["health"] for s in result])]


def _when(stamp: str | None, age: str | None, suffix: str = "ago") -> str:
    return f"{stamp} ({age} {suffix})" if stamp and age else stamp or "never"


def render(s: dict[str, Any]) -> str:
    """One deployment's status: the clock first (the most urgent), then health and why."""
    from backup_agent.jobs.copy_retention import copies_text

    if "error" in s:
        return f"{s['deployment']}: error: {s['error']}\n  health: {s['health'].upper()}"
    lines = [f"{s['deployment']}: Management Node {s['management_node']}, "
             f"last contact {_when(s['last_contact'], s.get('last_contact_age'))}"]
    a = s.get("autonomy")
    if a and a["applies"]:
        hours = a["remaining_hours"]
        left = ("unknown" if hours is None else f"{hours_text(hours)} left" if a["level"] != "expired"
                else f"passed {hours_text(hours)} ago")
        lines.append(f"  AUTONOMY CLOCK {a['level'].upper()}: Conferencing Nodes run on their own "
                     f"until {a['deadline'] or '?'} ({left})")
    elif s.get("note"):
        lines.append(f"  {s['note']}")
    if health := s.get("health"):
        reasons = s.get("reasons") or []
        lines.append(f"  health: {health if health == 'healthy' else health.upper()}"
                     + (f" — {'; '.join(reasons)}" if reasons else ""))
    if s.get("management_probe"):
        lines.append(f"  probe: {s['management_probe']}")
    for node in s.get("nodes", []):
        if node["status"] != "up":
            since = f" since {node['out_of_contact_since']}" if node.get("out_of_contact_since") else ""
            lines.append(f"  node {node['name']}: {node['status']}"
                         + (f" ({node['why']}{since})" if node.get("why") else since))
    lines += [f"  WARNING: {w}" for w in s.get("warnings", [])]
    for kind, rp in s["newest"].items():
        copies = f", copies: {copies_text(rp['copies'])}" if rp and "copies" in rp else ""
        lines.append(f"  newest {kind:14} "
                     + (f"{rp['id']} ({rp['taken_at']}, {rp['age']} old{copies})" if rp else "none"))
    for job, r in s["last_runs"].items():
        lines.append(f"  last {job:10} {r['outcome']} at {_when(r['at'], r.get('age'))}"
                     + (f" — {'; '.join(r['failures'])}" if r["failures"] else ""))
    return "\n".join(lines)
