"""Every step names the action the replay maps it to: automated steps an automated action."""

from __future__ import annotations

import pytest

from backup_agent.planner import make_plan, parse_evidence
from backup_agent.planner.paths import AUTOMATED_ACTIONS, MANUAL_ACTIONS
from tests.planner.test_plan import CASES, Case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_step_has_a_known_action(case: Case) -> None:
    plan = make_plan(parse_evidence(case.doc))
    for path in plan.paths:
        for step in path.steps:
            allowed = AUTOMATED_ACTIONS if step.automated else MANUAL_ACTIONS
            assert step.action in allowed, (path.kind, step.title, step.action)
            if step.action in ("revert-snapshot", "restore-backup", "import-rooms"):
                assert step.ref and any(p["id"] == step.ref for p in case.doc["restore_points"])
            if step.action == "deployment-file":
                assert step.ref == path.target
        assert [s.action for s in path.steps].count("check") <= 1
