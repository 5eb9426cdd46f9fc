"""The plan with many failed Conferencing Nodes: the same JSON and runbook as the plan made
before the per-path work was hoisted out of the loop (hashes of that code's output), built in
time proportional to what it writes."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from backup_agent.planner import make_plan, parse_evidence, to_json, to_markdown
from tests.planner.helpers import backup, days_before, evidence, export

# sha256 of to_json / to_markdown of _large() by the code before the change (plan.py, facts.py
# at 6c2b931): the output must not change, only the work done to make it.
JSON_SHA256 = "c39425a6726ce8f5f5b637a84a2114a07eecc2f419959bd85c4e04154ef58aeb"
MARKDOWN_SHA256 = "9dfc6b10a18d8086102fc80b597c60df66503be87b7980115cbd3d78dd7c1e1f"


def _large(n: int = 400) -> dict[str, object]:
    names = [f"cn-{i:04d}" for i in reversed(range(n))]  # not in name order: sorted by the plan
    e = evidence(points=[backup("b-1", days_before(1)), export("re-1", days_before(2))],
                 lost_rooms=["room-1", "room-2"])
    e["conferencing_nodes"] = [{"name": x, "status": "down", "platform": "vmware",
                                "location": f"site-{i % 7}"} for i, x in enumerate(names)]
    e["failed"] = names
    return e


def test_the_output_is_what_it_was() -> None:
    plan = make_plan(parse_evidence(_large()))
    assert hashlib.sha256(to_json(plan).encode()).hexdigest() == JSON_SHA256
    assert hashlib.sha256(to_markdown(plan).encode()).hexdigest() == MARKDOWN_SHA256


def _share_failed_by_pattern(lines: list[str]) -> list[str]:
    """The pattern run over every line, as the runbook did before it remembered runs."""
    import re
    from collections import Counter

    from backup_agent.planner.runbook import _FAILED_RUN

    runs = Counter(m.group(0) for line in lines for m in _FAILED_RUN.finditer(line))
    if not runs:
        return lines
    names = {run: f"FAILED_{i}" for i, (run, _) in enumerate(runs.most_common(), 1)}
    out = [re.sub(_FAILED_RUN, lambda m: f" ${names[m.group(0)]}", line) for line in lines]
    defs = [f"{var}='{run.strip()}'" for run, var in names.items()]
    return ["The commands below declare the failure through these shell variables; paste "
            "them into the shell first:", "", "```", *defs, "```", "", *out]


NAME = (st.text(alphabet="ab-", min_size=1, max_size=3)  # most names: plain
        | st.text(alphabet="ab`- \t\u2003", min_size=1, max_size=3))
TAIL = st.sampled_from(["", "x", "`", " ", "\u2003", " --failed", " --failed z", " --path 1`"])


@st.composite
def _lines(draw: st.DrawFn) -> list[str]:
    """Commands naming prefixes of one list of failed nodes, each run followed by text that
    may go on with its last name or with another --failed: a run remembered from one line
    must not be taken in another where the pattern would end it elsewhere."""
    names = draw(st.lists(NAME, min_size=3, max_size=7))
    flags = [f" --failed {n}" for n in names]
    out = []
    for _ in range(draw(st.integers(1, 6))):
        cut = draw(st.integers(0, len(flags)))
        out.append("`backup-agent restore" + "".join(flags[:cut]) + draw(TAIL))
    return out


@settings(max_examples=500, deadline=None)
@given(_lines())
def test_runs_found_as_the_pattern_finds_them(lines: list[str]) -> None:
    """Runs remembered from one line and compared at once in the next are where the pattern
    would have found them: names with backticks, spaces, other whitespace and dashes, runs
    of three (too short), a longer run sharing a known one's start."""
    from backup_agent.planner.runbook import _share_failed

    assert _share_failed(lines) == _share_failed_by_pattern(lines)
