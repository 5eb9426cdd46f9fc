"""Tastypie-style listing: filters, ordering, paging and the ``{"meta", "objects"}`` envelope.

Quirks kept from the real API: ``meta.next``/``previous`` are paths with their query string
(not absolute URLs) and ``null`` at the ends; the default page size is 20; ``limit`` is capped
at the maximum page size, and ``limit=0`` means "as many as allowed" (Tastypie's reading:
the maximum page size, not unbounded).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from backup_agent.sim.model import id_of

RESERVED = {"limit", "offset", "order_by", "format"}


class QueryError(ValueError):
    """A malformed query parameter (answered 400)."""


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def _equal(stored: Any, wanted: str) -> bool:
    if isinstance(stored, list):
        return any(_equal(item, wanted) for item in stored)
    if isinstance(stored, bool):
        return wanted.lower() in (("true", "1") if stored else ("false", "0"))
    if isinstance(stored, str) and stored.startswith("/api/") and wanted.isdigit():
        return id_of(stored) == int(wanted)  # related fields filter by id or by URI
    return _text(stored) == wanted


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def _compare(stored: Any, op: str, wanted: str) -> bool:
    if stored is None:
        return False
    left: Any = stored
    right: Any = wanted
    if isinstance(stored, int | float) and not isinstance(stored, bool):
        right = _number(wanted)
        if isinstance(right, str):
            raise QueryError(f"{wanted!r} is not a number")
    else:
        left = _text(stored)
    if op == "gt":
        return bool(left > right)
    if op == "gte":
        return bool(left >= right)
    if op == "lt":
        return bool(left < right)
    return bool(left <= right)


def matcher(field: str, value: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate for one ``field[__op]=value`` filter."""
    name, _, op = field.partition("__")
    if op in ("", "exact"):
        return lambda row: _equal(row.get(name), value)
    if op == "in":
        wanted = [v for v in value.split(",") if v != ""]
        return lambda row: any(_equal(row.get(name), w) for w in wanted)
    if op == "iexact":
        return lambda row: _text(row.get(name)).lower() == value.lower()
    if op == "contains":
        return lambda row: value in _text(row.get(name))
    if op == "icontains":
        return lambda row: value.lower() in _text(row.get(name)).lower()
    if op == "startswith":
        return lambda row: _text(row.get(name)).startswith(value)
    if op == "istartswith":
        return lambda row: _text(row.get(name)).lower().startswith(value.lower())
    if op in ("gt", "gte", "lt", "lte"):
        return lambda row: _compare(row.get(name), op, value)
    if op == "isnull":
        want_null = value.lower() in ("true", "1")
        return lambda row: (row.get(name) in (None, "")) == want_null
    raise QueryError(f"unsupported filter {field!r}")


def _int(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise QueryError(f"{name} must be an integer") from exc
    if value < 0:
        raise QueryError(f"{name} must not be negative")
    return value


def select(rows: Iterable[dict[str, Any]], params: dict[str, str], fields: set[str] | None = None
           ) -> list[dict[str, Any]]:
    """Rows matching every filter in ``params``, ordered by ``order_by`` (default id)."""
    predicates = []
    for key, value in params.items():
        if key in RESERVED:
            continue
        if fields is not None and key.partition("__")[0] not in fields:
            raise QueryError(f"the field {key.partition('__')[0]!r} does not allow filtering")
        predicates.append(matcher(key, value))
    selected = [r for r in rows if all(p(r) for p in predicates)] if predicates else list(rows)
    order = params.get("order_by")
    if order and order != "id":  # rows are kept in id order already
        name = order.lstrip("-")
        selected.sort(key=lambda r: (r.get(name) is None, _text(r.get(name)) if not isinstance(
            r.get(name), int | float) else r.get(name)), reverse=order.startswith("-"))
    return selected


def page(rows: list[dict[str, Any]], params: dict[str, str], path: str,
         default_size: int, max_size: int, render: Callable[[dict[str, Any]], dict[str, Any]]
         ) -> dict[str, Any]:
    """One page of ``rows`` in the list envelope, with ``next``/``previous`` as paths."""
    meta, selected = page_meta(rows, params, path, default_size, max_size)
    return {"meta": meta, "objects": [render(r) for r in selected]}


def page_json(rows: list[dict[str, Any]], params: dict[str, str], path: str,
              default_size: int, max_size: int, render: Callable[[dict[str, Any]], bytes]) -> bytes:
    """:func:`page` as JSON bytes from per-object JSON (``render`` returns bytes)."""
    meta, selected = page_meta(rows, params, path, default_size, max_size)
    return (b'{"meta": ' + json.dumps(meta).encode() + b', "objects": ['
            + b", ".join(render(r) for r in selected) + b"]}")


def page_meta(rows: list[dict[str, Any]], params: dict[str, str], path: str,
              default_size: int, max_size: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``meta`` of one page and the rows on it."""
    limit = _int(params, "limit", default_size)
    limit = max_size if limit == 0 else min(limit, max_size)
    offset = _int(params, "offset", 0)
    total = len(rows)

    def link(new_offset: int) -> str:
        query = dict(params, limit=str(limit), offset=str(new_offset))
        return f"{path}?{urlencode(query)}"

    meta = {
        "limit": limit, "offset": offset, "total_count": total,
        "next": link(offset + limit) if offset + limit < total else None,
        "previous": link(max(0, offset - limit)) if offset > 0 else None,
    }
    return meta, rows[offset:offset + limit]
