"""``backup-agent status``: per deployment, last contact, the autonomy clock, newest restore points."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backup_agent.catalog import iso
from backup_agent.cli.common import Context, add_json, combined_exit_code, open_env
from backup_agent.errors import EXIT_OK, AgentError, UsageError
from backup_agent.planner.clock import hours_text

KINDS = ("config-backup", "room-export", "inventory", "snapshot")


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="last contact, autonomy clock and newest restore points")
    p.add_argument("--deployment", "-d", metavar="NAME", help="only this deployment")
    p.add_argument("--no-probe", action="store_true", help="catalog only; do not contact anything")
    add_json(p)
    p.set_defaults(func=run)


def deployment_status(env: Any, dep: Any, probe: bool) -> dict[str, Any]:
    from backup_agent.jobs.evidence import collect
    from backup_agent.planner import autonomy_clock, parse_evidence

    newest = {k: (rp.to_dict(env.store.location) if (rp := env.catalog.latest(dep.name, k))
                  else None) for k in KINDS}
    runs: dict[str, dict[str, Any]] = {}
    for run in env.catalog.runs(dep.name, limit=100):
        runs.setdefault(run.job, {"outcome": run.outcome, "at": iso(run.started_at),
                                  "failures": [f"{i}: {r}" for i, r in run.failures()]})
    try:
        evidence = collect(env, dep, [], None, probe=probe, deep=False)
    except UsageError as exc:  # never reached and no down_since: say so, do not guess
        evidence, note = None, str(exc)
    # The contact is read after the probe, which records its answer as the last contact.
    out: dict[str, Any] = {"deployment": dep.name, **env.catalog.contact(dep.name),
                           "newest": newest, "last_runs": runs}
    if evidence is None:
        out.update(management_node="unreachable", autonomy=None, note=note)
        return out
    out["management_node"] = evidence["management_node"]["status"]
    if probe_note := evidence["management_node"].get("probe"):
        out["management_probe"] = probe_note
    out["autonomy"] = autonomy_clock(parse_evidence(evidence)).to_dict()
    return out


def run(args: argparse.Namespace, ctx: Context) -> int:
    cfg = ctx.config
    deps = [cfg.deployment(args.deployment)] if args.deployment else list(cfg.deployments)
    env = open_env(ctx)
    result: list[dict[str, Any]] = []
    codes: list[int] = []
    try:
        for dep in deps:
            # One deployment's error (a missing secret) must not hide the others' status.
            try:
                result.append(deployment_status(env, dep, not args.no_probe))
                codes.append(EXIT_OK)
            except AgentError as exc:
                if len(deps) == 1:
                    raise
                sys.stderr.write(f"backup-agent: {dep.name}: {exc}\n")
                result.append({"deployment": dep.name, "error": str(exc)})
                codes.append(exc.exit_code)
    finally:
        env.close()
    ctx.emit(result, lambda: "\n\n".join(render(s) for s in result))
    return combined_exit_code(codes)


def render(s: dict[str, Any]) -> str:
    if "error" in s:
        return f"{s['deployment']}: error: {s['error']}"
    lines = [f"{s['deployment']}: Management Node {s.get('management_node', '?')}, "
             f"last contact {s.get('last_contact') or 'never'}"]
    if s.get("management_probe"):
        lines.append(f"  probe: {s['management_probe']}")
    a = s.get("autonomy")
    if a and a["applies"]:
        hours = a["remaining_hours"]
        left = ("unknown" if hours is None else f"{hours_text(hours)} left" if a["level"] != "expired"
                else f"passed {hours_text(hours)} ago")
        lines.append(f"  AUTONOMY CLOCK {a['level'].upper()}: Conferencing Nodes run on their own "
                     f"until {a['deadline'] or '?'} ({left})")
    elif s.get("note"):
        lines.append(f"  {s['note']}")
    for kind, rp in s["newest"].items():
        lines.append(f"  newest {kind:14} " + (f"{rp['id']} ({rp['taken_at']})" if rp else "none"))
    for job, r in s["last_runs"].items():
        lines.append(f"  last {job:10} {r['outcome']} at {r['at']}"
                     + (f" — {'; '.join(r['failures'])}" if r["failures"] else ""))
    return "\n".join(lines)
