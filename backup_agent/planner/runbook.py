"""The plan as a runbook a human follows on a bridge call (Markdown), and as JSON.

Markdown order: the autonomy deadline first, in bold; the recommended sequence (the best path
for the Management Node, then rooms, then each lost Conferencing Node) with its numbered steps
and commands; then the alternatives.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter

from backup_agent.planner.clock import hours_text
from backup_agent.planner.facts import human_time
from backup_agent.planner.paths import RestorePath
from backup_agent.planner.plan import Plan

MANAGEMENT_KINDS = ("revert-snapshot", "restore-backup")
# A run of this many --failed or more is written once, as a shell variable, not in every
# command: 2,000 lost nodes made a 125 MB runbook (every path's command named all of them).
MANY_FAILED = 4
_FAILED_RUN = re.compile(r"(?: --failed [^\s`]+){" + str(MANY_FAILED) + ",}")


def _line(text: str) -> str:
    """``text`` (names from the inventory in it) kept on its line: a newline, a control or a
    direction character in a node name would start a heading or a list of its own."""
    if text.isprintable():  # the common case, at C speed: no control, format or separator
        return text
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in text)


def recommended(plan: Plan) -> list[RestorePath]:
    """The paths to take, in order; every other path of the plan is an alternative."""
    management = [p for p in plan.paths if p.kind in MANAGEMENT_KINDS]
    others = [p for p in plan.paths if p.kind in ("import-rooms", "redeploy-node")]
    rebuild = [p for p in plan.paths if p.kind == "rebuild"]
    ready = [p for p in management if p.ready]
    if ready:
        return [ready[0], *others]
    # No way back for the Management Node that can start now: the rebuild redeploys the
    # Conferencing Nodes too, and the blocked alternatives stay listed for whoever unblocks one.
    if management or any(p.kind == "redeploy-node" and not p.ready for p in others):
        return rebuild
    return others or (rebuild if plan.priority != "P4" else [])


def to_json(plan: Plan) -> str:
    """The plan JSON of design.md."""
    return json.dumps(plan.to_dict(), indent=2)


def _deadline(plan: Plan) -> str:
    a = plan.autonomy
    if not a.applies:
        return "**No autonomy clock: the Management Node is up, or no Conferencing Node is left " \
               "running.**"
    if a.deadline is None:
        return "**Autonomy deadline UNKNOWN: no last contact on record; treat it as critical.**"
    hours = a.remaining.total_seconds() / 3600 if a.remaining is not None else 0.0
    if a.level == "expired":
        return (f"**Autonomy deadline {human_time(a.deadline)} has PASSED ({hours_text(hours)} "
                "ago): Conferencing Nodes may stop at any moment.**")
    return (f"**Autonomy deadline {human_time(a.deadline)}: {hours_text(hours)} left ({a.level}); "
            "Conferencing Nodes stop then unless the Management Node is back.**")


def _path_heading(p: RestorePath) -> str:
    state = "ready" if p.ready else "NOT READY"
    return f"### Path {p.number}: {p.kind} → {_line(p.target)} ({state}, ~{p.estimated_minutes} min)"


def _path_body(p: RestorePath, with_steps: bool) -> list[str]:
    lines = [_path_heading(p), ""]
    if p.restore_point:
        lines.append(f"- Restore point: `{_line(p.restore_point)}`")
    lines.append(f"- Loses: {_line(p.loses)}")
    lines += [f"- **Blocker:** {_line(b)}" for b in p.blockers]
    lines.append("")
    if with_steps:
        for i, step in enumerate(p.steps, 1):
            how = "automated" if step.automated else "manual"
            lines.append(f"{i}. **{_line(step.title)}** ({how}): {_line(step.detail)}")
        lines.append("")
    return lines


def to_markdown(plan: Plan) -> str:
    """The runbook as Markdown."""
    lines = [f"# Restore plan for {_line(plan.deployment)}: {plan.priority}", ""]
    if plan.notes:
        lines += [f"- {_line(n)}" for n in plan.notes] + [""]
    chosen = recommended(plan)
    if chosen:
        lines += ["## Do this", ""]
        for p in chosen:
            lines += _path_body(p, with_steps=True)
    else:
        lines += ["## Nothing failed", "", "No restore is needed.", ""]
    # By number (each path's own place), not by equality: comparing whole paths, 2,000 of
    # them against 2,000, was most of a runbook's time at 2,000 lost nodes.
    taken = {p.number for p in chosen}
    alternatives = [p for p in plan.paths if p.number not in taken]
    if alternatives:
        lines += ["## Alternatives", ""]
        for p in alternatives:
            lines += _path_body(p, with_steps=True)
    return "\n".join([_deadline(plan), "", *_share_failed(lines)]).rstrip("\n") + "\n"


def _share_failed(lines: list[str]) -> list[str]:
    """``lines`` with each long run of ``--failed`` defined once as a shell variable."""
    known: list[str] = []
    spans = [_failed_runs(line, known) if "--failed" in line else [] for line in lines]
    runs = Counter(line[a:b] for line, found in zip(lines, spans, strict=True) for a, b in found)
    if not runs:
        return lines
    names = {run: f"FAILED_{i}" for i, (run, _) in enumerate(runs.most_common(), 1)}
    out = []
    for line, found in zip(lines, spans, strict=True):
        pieces, at = [], 0
        for a, b in found:
            pieces += [line[at:a], f" ${names[line[a:b]]}"]
            at = b
        out.append("".join([*pieces, line[at:]]) if found else line)
    defs = [f"{var}='{run.strip()}'" for run, var in names.items()]
    return ["The commands below declare the failure through these shell variables; paste "
            "them into the shell first:", "", "```", *defs, "```", "", *out]


def _failed_runs(line: str, known: list[str]) -> list[tuple[int, int]]:
    """Where ``_FAILED_RUN.finditer`` matches in ``line``, found without running the pattern
    over a run seen before: every path's command repeats the same run (2,000 lost nodes: 2,000
    commands of 40 KB each), and matching it character by character again made the runbook
    quadratic (1.8 s). A known run is compared at once, and taken only where the pattern would
    end it too (no name going on, no further ``--failed`` after it)."""
    out: list[tuple[int, int]] = []
    at = line.find(" --failed ")
    while at >= 0:
        end = next((at + len(r) for r in known if line.startswith(r, at)
                    and _run_ends(line, at + len(r))), None)
        if end is None:
            match = _FAILED_RUN.search(line, at)
            if match is None:
                break
            at, end = match.span()
            known.append(match.group(0))
        out.append((at, end))
        at = line.find(" --failed ", end)
    return out


def _run_ends(line: str, end: int) -> bool:
    """The pattern's greedy run stops at ``end``: a space, a backtick or the end of the line,
    and no ``--failed`` following."""
    return end == len(line) or ((line[end].isspace() or line[end] == "`")
                                and not line.startswith(" --failed ", end))


