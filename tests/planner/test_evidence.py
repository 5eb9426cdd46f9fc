"""Evidence parsing: every bad input named in issue 4 and the brief, and the round trip."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from backup_agent.errors import EXIT_USAGE, EvidenceError
from backup_agent.planner.evidence import parse_evidence
from tests.planner.helpers import DOWN_SINCE, backup, days_before, evidence, export, snapshot


def full() -> dict[str, Any]:
    return evidence(points=[
        backup("b-1", days_before(1)),
        snapshot("s-1", days_before(20), version="37.2"),
        export("e-1", days_before(0.9)),
    ], drills=[{"kind": "restore-backup", "minutes": 41.5, "at": "2026-11-02T10:00:00Z"}])


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return apply


def _del(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return apply


BAD = [
    ("missing deployment", _del(["deployment"]), "deployment: required key missing"),
    ("missing now", _del(["now"]), "now: required key missing"),
    ("missing software_version", _del(["software_version"]), "software_version: required key missing"),
    ("missing management_node", _del(["management_node"]), "management_node: required key missing"),
    ("missing node status", _del(["management_node", "status"]), "management_node.status: required key missing"),
    ("missing node name", _del(["conferencing_nodes", 1, "name"]), "conferencing_nodes[1].name: required key missing"),
    ("missing restore_points", _del(["restore_points"]), "restore_points: required key missing"),
    ("missing taken_at", _del(["restore_points", 2, "taken_at"]), "restore_points[2].taken_at: required key missing"),
    ("missing id", _del(["restore_points", 0, "id"]), "restore_points[0].id: required key missing"),
    ("down without down_since", _del(["management_node", "down_since"]), "management_node.down_since: required key missing"),
    ("unknown kind", _set(["restore_points", 1, "kind"], "tarball"), "restore_points[1].kind: unknown value 'tarball'"),
    ("unknown mn status", _set(["management_node", "status"], "sleeping"), "management_node.status: unknown value 'sleeping'"),
    ("unknown cn status", _set(["conferencing_nodes", 0, "status"], "busy"), "conferencing_nodes[0].status: unknown value"),
    ("unknown platform", _set(["management_node", "platform"], "xen"), "management_node.platform: unknown value 'xen'"),
    ("taken_at without timezone", _set(["restore_points", 2, "taken_at"], "2026-11-19T01:05:00"), "restore_points[2].taken_at: no timezone"),
    ("now without timezone", _set(["now"], "2026-11-26T10:00:00"), "now: no timezone"),
    ("down_since without timezone", _set(["management_node", "down_since"], "2026-11-20 08:00"), "management_node.down_since: no timezone"),
    ("not a timestamp", _set(["now"], "yesterday"), "now: not an ISO 8601 timestamp"),
    ("down_since in the future", _set(["management_node", "down_since"], "2026-11-26T10:00:01Z"), "management_node.down_since: 2026-11-26T10:00:01Z is in the future"),
    ("point after down_since", _set(["restore_points", 0, "taken_at"], "2026-11-20T08:00:01Z"), "restore_points[0].taken_at: 2026-11-20T08:00:01Z is after management_node.down_since"),
    ("verified not a bool", _set(["restore_points", 0, "verified"], "yes"), "restore_points[0].verified: expected true or false"),
    ("available not a bool", _set(["restore_points", 1, "available"], 1), "restore_points[1].available: expected true or false"),
    ("negative rooms", _set(["restore_points", 2, "rooms"], -1), "restore_points[2].rooms: expected a whole number"),
    ("deployment not a string", _set(["deployment"], 7), "deployment: expected a non-empty string"),
    ("nodes not a list", _set(["conferencing_nodes"], {"name": "x"}), "conferencing_nodes: expected a list"),
    ("point not an object", _set(["restore_points", 0], "b-1"), "restore_points[0]: expected an object"),
    ("duplicate id", _set(["restore_points", 1, "id"], "b-1"), "restore_points[1].id: duplicate id 'b-1'"),
    ("duplicate node", _set(["conferencing_nodes", 1, "name"], "cn-osl-1"), "conferencing_nodes[1]: duplicate name"),
    ("failed names no node", _set(["failed"], ["cn-nowhere"]), "failed[0]: 'cn-nowhere' is not a node of deployment 'prod'"),
    ("drill unknown kind", _set(["drills", 0, "kind"], "pray"), "drills[0].kind: unknown value 'pray'"),
    ("drill zero minutes", _set(["drills", 0, "minutes"], 0), "drills[0].minutes: expected a positive number"),
    ("lost_rooms not strings", _set(["lost_rooms"], [3]), "lost_rooms[0]: expected a non-empty string"),
]


@pytest.mark.parametrize(("mutate", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_evidence_names_the_json_path(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    doc = full()
    parse_evidence(copy.deepcopy(doc))  # the unmutated document is good
    mutate(doc)
    with pytest.raises(EvidenceError) as err:
        parse_evidence(doc)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert err.value.exit_code == EXIT_USAGE


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(EvidenceError, match="evidence: expected an object"):
        parse_evidence([])


def test_point_taken_after_now_when_management_node_is_up() -> None:
    doc = evidence(mn_status="up", down_since=None,
                   points=[backup("b-1", days_before(-7))])  # 7 days after DOWN_SINCE, after now
    with pytest.raises(EvidenceError, match=r"restore_points\[0\].taken_at: .* is after now"):
        parse_evidence(doc)


def test_declared_management_failure_needs_down_since() -> None:
    doc = evidence(mn_status="up", down_since=None, failed=["management"])
    with pytest.raises(EvidenceError, match=r"management_node\.down_since: required key missing"):
        parse_evidence(doc)


def test_unknown_management_node_needs_no_down_since() -> None:
    ev = parse_evidence(evidence(mn_status="unknown", down_since=None))
    assert ev.management_node.down_since is None


def test_unknown_keys_are_ignored() -> None:
    doc = full()
    doc["comment"] = "from the customer"
    doc["management_node"]["ip"] = "10.0.0.1"
    doc["restore_points"][0]["sha256"] = "ab" * 32
    assert parse_evidence(doc) == parse_evidence(full())


def test_offsets_are_normalised_to_utc() -> None:
    doc = full()
    doc["now"] = "2026-11-26T11:00:00+01:00"
    assert parse_evidence(doc).now == parse_evidence(full()).now


def test_round_trip_through_json() -> None:
    doc = full()
    doc["failed"] = ["cn-osl-2"]
    doc["lost_rooms"] = ["VMR Alice"]
    ev = parse_evidence(doc)
    again = parse_evidence(json.loads(json.dumps(ev.to_dict())))
    assert again == ev
    assert again.to_dict() == ev.to_dict()
    assert ev.to_dict()["management_node"]["down_since"] == "2026-11-20T08:00:00Z"
    assert ev.drills[0].minutes == 41.5
    assert ev.management_node.down_since == DOWN_SINCE
