"""``--json`` output: a list of records is one record per line, the rest indented; all JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from backup_agent.cli.common import to_json


def test_a_list_of_records_is_one_per_line_and_parses_back() -> None:
    records = [{"id": f"rp-{i}", "files": [{"name": "a"}], "at": datetime(2026, 12, 1, tzinfo=UTC)}
               for i in range(3)]
    text = to_json(records)
    lines = text.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 5
    assert json.loads(text) == json.loads(json.dumps(records, default=str))


def test_anything_else_is_indented() -> None:
    assert to_json({"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}'
    assert json.loads(to_json([])) == []


def test_records_are_encoded_as_json_dumps_encodes_them() -> None:
    """``--json``'s one-record-a-line text is json.dumps(record, default=str) of each record
    (made by one C encoder for them all), in a list json.loads reads back."""
    records = [{"a": 1.5, "b": [1, None, True], "c": "é\n\u2028\"", "d": {"x": float("inf")},
                "e": datetime(2026, 1, 1, tzinfo=UTC), "f": 10**30}, {}, {"k": []}]
    text = to_json(records)
    assert text.splitlines()[1:-1] == ["  " + json.dumps(r, default=str) + ("," if i < 2 else "")
                                       for i, r in enumerate(records)]
    assert json.loads(text.replace("Infinity", "1e999"))[2] == {"k": []}
