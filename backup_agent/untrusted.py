"""Decoding JSON nobody vouches for: evidence files, answers from a Management Node.

``json.loads`` lets three things through that a hostile document uses: ``NaN`` and
``Infinity`` (not JSON, and they poison every comparison after), integers of more than 4,300
digits (a ``ValueError`` from deep inside the decoder) and deep nesting (a ``RecursionError``,
which escapes every ``except ValueError``). Here each is a ``ValueError`` with a short message.

A number too large for a float (``1e999``) is refused too: ``json.loads`` makes it infinity,
which would be written out as no JSON.

Most documents are decoded by msgspec against a type that admits only JSON nested at most
:data:`FAST_DEPTH` deep: twice as fast as ``json.loads`` and nothing to walk after it (a
page of 500 rooms: 3.5 ms against 7 ms, and 2 ms of depth walk saved). It refuses NaN, a
float out of range and integers of more than 4,300 digits as ``json`` is made to here. What
it does not take (deeper nesting, a lone surrogate, a byte order mark, broken JSON) is
decoded again by ``json.loads`` as before, so what comes back, and every error, is what
``json.loads`` and the checks below give.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable
from functools import cache
from itertools import chain
from typing import Any, Union

MAX_DEPTH = 64  # far deeper than any real answer or evidence file
FAST_DEPTH = 8  # a page of rooms nests 5 deep; the type's size grows fast with it


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is out of a float's range")
    return number


def _depth(doc: Any, limit: int) -> int:
    """How deep ``doc`` (decoded) nests, counted up to ``limit + 1``: level by level, no
    recursion. Walking the decoded objects costs a tenth of a byte-by-byte scan of the text
    (3 ms against 40 ms for a 1 MB page of rooms, whose decode takes 7 ms)."""
    if type(doc) is not dict and type(doc) is not list:
        return 0
    level, depth = [doc], 0
    while level and depth <= limit:
        depth += 1
        # One comprehension a level, over every value of the level's containers at once.
        values = chain.from_iterable(o.values() if type(o) is dict else o for o in level)
        level = [v for v in values if type(v) is dict or type(v) is list]
    return depth


@cache
def _fast_decoder() -> Callable[[str | bytes], Any]:
    """msgspec's decoder of JSON at most FAST_DEPTH deep (imported at first use: most
    commands read no answer, and msgspec takes 25 ms to import)."""
    import msgspec

    shape: Any = Union[None, bool, int, float, str]  # noqa: UP007 (a value, not a hint)
    for _ in range(FAST_DEPTH):
        shape = Union[None, bool, int, float, str, list[shape], dict[str, shape]]  # noqa: UP007
    return msgspec.json.Decoder(shape).decode


def untrusted_json(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode ``text``; ``json.JSONDecodeError`` or ``ValueError`` for what cannot be used."""
    if max_depth >= FAST_DEPTH:
        try:
            return _fast_decoder()(text)
        except (ValueError, RecursionError, UnicodeError):  # msgspec's errors are ValueErrors
            pass  # decoded by json, for its answer or its error
    try:
        doc = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:  # the C decoder's own bound (the recursion limit) was reached
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # more than 4,300 digits, or out of a float's range
        raise ValueError(str(exc).split(";")[0][:120]) from None
    if _depth(doc, max_depth) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    return doc


def unsafe_char(text: str) -> str | None:
    """The first character of ``text`` that must not reach a file name, a log or a terminal.

    Controls (C0, DEL, C1), format characters (the right-to-left override that shows
    ``exe.txt`` as ``txt.exe``, zero-width characters), line and paragraph separators,
    surrogates and unassigned code points.
    """
    if text.isascii() and text.isprintable():  # C speed; printable ASCII has none of those
        return None
    for c in text:
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return c
    return None
