"""The plan with many failed Conferencing Nodes: the same JSON and runbook as the plan made
before the per-path work was hoisted out of the loop (hashes of that code's output), built in
time proportional to what it writes."""

from __future__ import annotations

import hashlib

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
