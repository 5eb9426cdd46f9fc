"""untrusted_json's depth bound: exact at the bound, brackets inside strings not counted,
and a document far deeper than the C decoder takes refused as a ValueError in any thread."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from backup_agent.untrusted import MAX_DEPTH, untrusted_json


def nested(depth: int) -> str:
    """``depth`` levels, lists and objects in turn, with a string of brackets at the bottom."""
    text = '"[[{{\\"]]"'
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"k": {text}, "n": 1}}'
    return text


def test_the_bound_is_exact() -> None:
    assert json.loads(nested(MAX_DEPTH)) == untrusted_json(nested(MAX_DEPTH))
    with pytest.raises(ValueError, match="nested deeper than 64"):
        untrusted_json(nested(MAX_DEPTH + 1))
    with pytest.raises(ValueError, match="nested deeper than 3"):
        untrusted_json("[[[[]]]]", max_depth=3)
    assert untrusted_json("[[[]]]", max_depth=3) == [[[]]]


def test_brackets_in_strings_and_scalars() -> None:
    assert untrusted_json('["' + "[" * 500 + '"]') == ["[" * 500]
    assert untrusted_json(b'"{{{{"') == "{{{{"
    assert untrusted_json("5") == 5
    assert untrusted_json(b'{"a": [{"b": null}]}') == {"a": [{"b": None}]}


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_far_too_deep_is_a_value_error_in_any_thread(text: str) -> None:
    with pytest.raises(ValueError, match="nested deeper"):
        untrusted_json(text)
    with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="nested deeper"):
        pool.submit(untrusted_json, text.encode()).result()


def test_unusable_numbers_stay_refused() -> None:
    for text in ('{"a": NaN}', "[Infinity]", "1" * 5000):
        with pytest.raises(ValueError):
            untrusted_json(text)
