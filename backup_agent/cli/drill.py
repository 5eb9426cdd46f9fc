"""``backup-agent drill``: rehearse a restore on a simulator built from the restore points.

Exit 0 when the drill verified (rooms, aliases and deployment files as expected), 1 when not.
The drill is recorded as a run; its measured path times feed the planner's estimates.
"""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.cli.common import Context, add_deployment, add_json, open_env
from backup_agent.errors import EXIT_FAILED, EXIT_OK
from backup_agent.jobs import DRILL_SCENARIOS


def register(sub: Any) -> None:
    """Add the ``drill`` command."""
    p = sub.add_parser("drill", help="rehearse a restore against a simulator, timed and checked")
    add_deployment(p)
    p.add_argument("--scenario", choices=DRILL_SCENARIOS, default="management-lost",
                   help="what is lost (default management-lost)")
    add_json(p)
    p.set_defaults(func=run)


def describe(run: Any) -> str:
    """The drill's result for a terminal."""
    s = run.summary
    v = s.get("verification", {})
    lines = [f"drill {s['scenario']} of {run.deployment} (version {s.get('version')}): "
             f"{'verified' if v.get('verified') else 'NOT verified'} in {s['seconds']:.1f} s"]
    for step in s["steps"]:
        took = (f"{step['seconds']:.2f} s" if step["state"] != "skipped"
                else f"allowed {step['allowance_minutes']:g} min")
        if step["state"] == "done" and step["allowance_minutes"]:
            took += f", + {step['allowance_minutes']:g} min allowed for the node restarting"
        lines.append(f"  {step['path'] + ' ' + step['target']:24} {step['step']:>2}. "
                     f"[{step['state']:7}] "
                     f"{step['title']} ({took})")
    rooms = v.get("rooms")
    if rooms and rooms.get("export"):
        lines.append(f"  rooms: {rooms['rooms_matching']} of {rooms['rooms_in_export']} match "
                     f"export {rooms['export']}; aliases {rooms['aliases_restored']} of "
                     f"{rooms['aliases_in_export']}; missing {rooms['missing_count']}, changed "
                     f"{rooms['changed_count']}, not in the export {rooms['extra_count']}")
    for node, ok in (v.get("deployment_files") or {}).items():
        lines.append(f"  deployment file for {node}: {'ok' if ok else 'MISSING or wrong'}")
    if v.get("error"):
        lines.append(f"  failed: {v['error']}")
    for p in s.get("paths", []):
        lines.append(f"  estimate for {p['kind']} ({p.get('target', '')}): {p['minutes']:.1f} min "
                     "(measured + allowances)")
    return "\n".join(lines)


def run(args: argparse.Namespace, ctx: Context) -> int:
    """Run the drill, print it, exit 0 when verified."""
    from backup_agent.jobs.drill import drill

    dep = ctx.config.deployment(args.deployment)
    env = open_env(ctx)
    try:
        result = drill(env, dep, args.scenario)
    finally:
        env.close()
    ctx.emit(result.to_dict(), describe(result))
    return EXIT_OK if result.outcome == "completed" else EXIT_FAILED
