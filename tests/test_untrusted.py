"""untrusted_json's depth bound: exact at the bound, brackets inside strings not counted,
and a document far deeper than the C decoder takes refused as a ValueError in any thread."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_unsafe_char_fast_path_agrees_with_the_categories() -> None:
    """Printable ASCII is skipped at C speed (a listing checks every file's key); every
    character it must refuse is still found, ASCII controls and DEL among them."""
    import unicodedata

    from backup_agent.untrusted import unsafe_char

    refused = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
    for code in [*range(0x100), 0x200B, 0x202E, 0x2028, 0xD800, 0xE000, 0x0378]:
        c = chr(code)
        expected = c if unicodedata.category(c) in refused else None
        assert unsafe_char(f"prod/room-export/x{c}y/rooms.json") == expected, hex(code)
    assert unsafe_char("prod/room-export/re-prod-20261201T000000Z/rooms.json") is None


def test_a_float_out_of_range_is_refused_not_infinity() -> None:
    """``1e999`` decodes to infinity in ``json.loads``: it would be written back as
    ``Infinity``, which no JSON reader takes."""
    for text in ("1e999", '{"a": [-1e999]}', '{"a": 1e999, "b": "\\ud800"}'):
        with pytest.raises(ValueError, match="out of a float's range"):
            untrusted_json(text)
    assert untrusted_json("1e-999") == 0.0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(JSON, st.booleans())
def test_what_is_usable_comes_back_as_json_loads_reads_it(doc: object, ascii_only: bool) -> None:
    """Any document of finite numbers (big integers, lone surrogates, any text) comes back
    as ``json.loads`` reads it, key order and number types included, from text or bytes."""
    text = json.dumps(doc, ensure_ascii=ascii_only)
    expected = json.loads(text)
    got = untrusted_json(text)
    assert got == expected and repr(got) == repr(expected)
    if "\\ud8" not in text.lower() and "\\udc" not in text.lower():  # bytes: UTF-8 only
        assert repr(untrusted_json(text.encode())) == repr(expected)
