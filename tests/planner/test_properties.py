"""Property tests: over generated evidence the plan keeps its promises."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backup_agent.planner import make_plan, parse_evidence
from backup_agent.planner.clock import AUTONOMY
from tests.planner.helpers import NOW, ts

STATUS = st.sampled_from(["up", "down", "unknown"])
PLATFORM = st.sampled_from(["vmware", "hyperv", "aws", "azure", "gcp", "other"])
VERSION = st.sampled_from(["37.2", "38.1"])
MAYBE_BOOL = st.sampled_from([True, False, None])


@st.composite
def evidence_docs(draw: st.DrawFn) -> dict[str, Any]:
    mn_status = draw(STATUS)
    down_after = draw(st.integers(0, 30 * 24 * 3600))  # seconds before NOW
    down_since = NOW - timedelta(seconds=down_after)
    has_down_since = mn_status == "down" or draw(st.booleans())
    limit = down_since if has_down_since else NOW
    cns = [{"name": f"cn-{i}", "status": draw(STATUS), "platform": draw(PLATFORM),
            "location": draw(st.sampled_from(["Oslo", "Bergen"]))}
           for i in range(draw(st.integers(0, 6)))]
    nodes = ["mgr01", None] + [c["name"] for c in cns]
    points = []
    for i in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["config-backup", "snapshot", "room-export"]))
        point: dict[str, Any] = {"kind": kind, "id": f"rp-{i}",
                                 "taken_at": ts(limit - timedelta(seconds=draw(st.integers(0, 10**7))))}
        if kind == "config-backup":
            point.update(version=draw(VERSION), verified=draw(st.booleans()))
        elif kind == "snapshot":
            point.update(version=draw(VERSION), provider="p", node=draw(st.sampled_from(nodes)),
                         available=draw(MAYBE_BOOL))
        else:
            point["rooms"] = draw(st.integers(0, 5000))
        points.append({k: v for k, v in point.items() if v is not None})
    mn: dict[str, Any] = {"name": "mgr01", "status": mn_status, "platform": draw(PLATFORM)}
    if has_down_since:
        mn["down_since"] = ts(down_since)
    doc: dict[str, Any] = {"deployment": "prod", "now": ts(NOW), "software_version": "38.1",
                           "management_node": mn, "conferencing_nodes": cns, "restore_points": points}
    if draw(st.booleans()):
        doc["lost_rooms"] = ["VMR Alice"]
    if cns and draw(st.booleans()):
        doc["failed"] = [cns[0]["name"]]
    return doc


@settings(max_examples=150, deadline=None)
@given(evidence_docs())
def test_plan_keeps_its_promises(doc: dict[str, Any]) -> None:
    ev = parse_evidence(doc)
    plan = make_plan(ev)
    ids = {p.id for p in ev.restore_points}
    for path in plan.paths:
        assert path.restore_point is None or path.restore_point in ids
        assert path.ready == (not path.blockers)
        assert path.estimated_minutes > 0
    kinds = [p.kind for p in plan.paths]
    assert kinds[-1] == "rebuild" and kinds.count("rebuild") == 1
    assert [p.number for p in plan.paths] == list(range(1, len(kinds) + 1))
    # Paths that need a Management Node never come before one that brings it back.
    restores = [i for i, k in enumerate(kinds) if k in ("revert-snapshot", "restore-backup")]
    others = [i for i, k in enumerate(kinds) if k in ("redeploy-node", "import-rooms")]
    assert not restores or not others or max(restores) < min(others)
    # A redeploy waiting on the Management Node points at a path that can start now.
    for path in plan.paths:
        for blocker in path.blockers:
            if blocker.startswith("needs the Management Node"):
                target = plan.paths[int(blocker.rsplit("path ", 1)[1].rstrip(")")) - 1]
                assert target.ready and target.kind in ("revert-snapshot", "restore-backup", "rebuild")
    if plan.autonomy.applies and plan.autonomy.down_since is not None:
        assert plan.autonomy.deadline == plan.autonomy.down_since + AUTONOMY
        assert plan.autonomy.deadline - ev.now == plan.autonomy.remaining


@settings(max_examples=60, deadline=None)
@given(evidence_docs(), st.randoms(use_true_random=False))
def test_plan_is_deterministic_and_ignores_input_order(doc: dict[str, Any], rnd: random.Random) -> None:
    first = make_plan(parse_evidence(doc)).to_dict()
    assert make_plan(parse_evidence(doc)).to_dict() == first
    shuffled = dict(doc, restore_points=rnd.sample(doc["restore_points"], len(doc["restore_points"])))
    assert make_plan(parse_evidence(shuffled)).to_dict() == first


@settings(max_examples=100, deadline=None)
@given(evidence_docs())
def test_evidence_round_trips(doc: dict[str, Any]) -> None:
    ev = parse_evidence(doc)
    assert parse_evidence(json.loads(json.dumps(ev.to_dict()))) == ev
