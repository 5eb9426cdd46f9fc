"""Decoding JSON nobody vouches for: evidence files, answers from a Management Node.

``json.loads`` lets three things through that a hostile document uses: ``NaN`` and
``Infinity`` (not JSON, and they poison every comparison after), integers of more than 4,300
digits (a ``ValueError`` from deep inside the decoder) and deep nesting (a ``RecursionError``,
which escapes every ``except ValueError``). Here each is a ``ValueError`` with a short message.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

MAX_DEPTH = 64  # far deeper than any real answer or evidence file


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(text: str | bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings (a linear scan, no recursion)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def untrusted_json(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode ``text``; ``json.JSONDecodeError`` or ``ValueError`` for what cannot be used."""
    if _depth(text) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # the scan above should make this unreachable
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # more than 4,300 digits
        raise ValueError(str(exc).split(";")[0][:120]) from None


def unsafe_char(text: str) -> str | None:
    """The first character of ``text`` that must not reach a file name, a log or a terminal.

    Controls (C0, DEL, C1), format characters (the right-to-left override that shows
    ``exe.txt`` as ``txt.exe``, zero-width characters), line and paragraph separators,
    surrogates and unassigned code points.
    """
    for c in text:
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return c
    return None
