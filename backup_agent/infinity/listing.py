"""Reading whole collections of the Management Node API, fast and in order.

The API pages with ``?limit=N&offset=M`` and answers ``{"meta": {...}, "objects": [...]}`` with
``meta.next`` as a *path*. The fast lister asks for one large page, learns ``total_count`` and
the page size the server really grants (a server may cap ``limit``), then fetches the remaining
offsets concurrently within the client's concurrency bound and returns the objects in order,
de-duplicated by ``resource_uri``. Whatever remains past the planned pages (objects created
meanwhile) is read by following ``meta.next``.

Offset pages are only consistent while the list does not change: a room deleted after the
first page shifts the others, and the next page skips one. So every page's ``total_count``
must equal the first one's and the objects read must number ``total_count``; otherwise the
list is read once more, and a list that changes again fails clearly rather than come back
short. Callers ask for a stable order (``order_by=id``) where the schema allows it
(:func:`backup_agent.infinity.schema.stable_order`): without one, pages may overlap even
when nothing changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any

import requests

from backup_agent.errors import ApiError
from backup_agent.infinity.http import Transport

Page = tuple[dict[str, Any], list[dict[str, Any]]]  # (meta, objects)
# Bounds a node cannot talk the lister past: a meta.next with a new query each time looped
# for ever (20,843 requests in 40 s); a total_count of 10^12 planned 10^12 requests.
MAX_OBJECTS = 1_000_000  # per list; the largest deployments hold tens of thousands
MAX_PAGES = 20_000


def get_page(transport: Transport, path: str, params: dict[str, Any] | None = None) -> Page:
    """One page of a list resource, with its envelope checked."""
    return parse_page(transport, path, fetch_page(transport, path, params))


def fetch_page(transport: Transport, path: str,
               params: dict[str, Any] | None = None) -> requests.Response:
    """One page of a list resource, read whole but not decoded (:func:`parse_page` does)."""
    return transport.request("GET", path, params=params)


def parse_page(transport: Transport, path: str, resp: requests.Response) -> Page:
    """The (meta, objects) of a page :func:`fetch_page` read, with its envelope checked."""
    answer = transport.decode(resp, path)
    if not isinstance(answer, dict) or not isinstance(answer.get("objects"), list) \
            or not isinstance(answer.get("meta"), dict):
        raise ApiError(f"deployment {transport.name}: {path.split('?')[0]} did not answer a list "
                       f"(no meta/objects envelope): is url the Management Node?")
    objects = answer["objects"]
    if not all(isinstance(o, dict) for o in objects):
        raise ApiError(f"deployment {transport.name}: {path.split('?')[0]} answered objects that "
                       f"are not JSON objects")
    return answer["meta"], objects


def list_sequential(transport: Transport, resource: str, params: dict[str, Any] | None = None,
                    page_size: int = 20) -> list[dict[str, Any]]:
    """Every object of ``resource``, one page after another by following ``meta.next``."""
    first = {**(params or {}), "limit": page_size, "offset": 0}
    meta, objects = get_page(transport, resource, first)
    return _follow(transport, meta, list(objects))


class ListChanged(ApiError):
    """The list changed while it was read (its count is not what its pages said)."""


def list_concurrent(transport: Transport, resource: str, params: dict[str, Any] | None = None,
                    page_size: int = 500, workers: int = 5) -> list[dict[str, Any]]:
    """Every object of ``resource``: first page, then the other offsets concurrently; read
    once more when the count shows the list changed meanwhile, and fail if it changes again."""
    try:
        return _read_concurrent(transport, resource, params, page_size, workers)
    except ListChanged as first:
        try:
            return _read_concurrent(transport, resource, params, page_size, workers)
        except ListChanged as again:
            raise ApiError(f"deployment {transport.name}: the list {resource.split('?')[0]} "
                           f"changed while it was read, twice ({first.args[0]}; then "
                           f"{again.args[0]}): objects are being added or deleted; run it "
                           f"again when that stops") from again


def _read_concurrent(transport: Transport, resource: str, params: dict[str, Any] | None,
                     page_size: int, workers: int) -> list[dict[str, Any]]:
    base = dict(params or {})
    meta, objects = get_page(transport, resource, {**base, "limit": page_size, "offset": 0})
    total = meta.get("total_count")
    if not meta.get("next") or not objects:
        return _dedup(objects)
    if not isinstance(total, int) or total < 0:
        # Without a total nothing can be planned: fall back to following next.
        return _follow(transport, meta, list(objects))
    if total > MAX_OBJECTS:
        raise ApiError(f"deployment {transport.name}: {resource.split('?')[0]} claims "
                       f"{str(total)[:20]} objects, more than the {MAX_OBJECTS} this agent reads "
                       "from one list: is url the Management Node?")
    # A server that caps limit hands out fewer objects than asked: go by what it gave.
    granted = len(objects)
    if isinstance(meta.get("limit"), int) and 0 < meta["limit"] < granted:
        granted = meta["limit"]
    offsets = list(range(len(objects), total, granted))
    if len(offsets) >= MAX_PAGES:
        raise ApiError(f"deployment {transport.name}: {resource.split('?')[0]} would take "
                       f"{len(offsets) + 1} pages of {granted}: the node grants pages too small")
    pages: list[list[dict[str, Any]]] = [objects]
    metas: list[dict[str, Any]] = [meta]
    if offsets:
        def fetch(offset: int) -> Page:
            return get_page(transport, resource, {**base, "limit": granted, "offset": offset})

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(offsets))),
                                thread_name_prefix="infinity-list") as pool:
            for m, objs in pool.map(fetch, offsets):
                metas.append(m)
                pages.append(objs)
    out = [o for page in pages for o in page]
    last_meta, last_objs = metas[-1], pages[-1]
    if last_meta.get("next") and last_objs:
        # Objects were added while we read: pick up the tail the plan did not cover.
        out = _follow(transport, last_meta, out)
    return _checked(metas, _dedup(out), total)


def _checked(metas: list[dict[str, Any]], objects: list[dict[str, Any]],
             total: int) -> list[dict[str, Any]]:
    """``objects`` if every page agreed on the count and at least that many were read (more:
    a tail found by following ``meta.next`` past a count that lags, which skips nothing)."""
    counts = sorted({int(m["total_count"]) for m in metas if isinstance(m.get("total_count"), int)})
    if counts != [total] or len(objects) < total:
        raise ListChanged(f"{len(objects)} objects read, pages counted "
                          f"{', '.join(str(c) for c in counts)}")
    return objects


def _follow(transport: Transport, meta: dict[str, Any],
            out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    nxt = meta.get("next")
    followed: set[str] = set()
    while nxt:
        path = _next_path(transport, nxt)
        if path in followed:  # a broken server must not keep us here forever
            raise ApiError(f"deployment {transport.name}: meta.next points back to a page "
                           f"already read ({path.split('?')[0]}): the listing loops")
        followed.add(path)
        if len(followed) > MAX_PAGES or len(out) > MAX_OBJECTS:
            raise ApiError(f"deployment {transport.name}: meta.next led past {MAX_PAGES} pages or "
                           f"{MAX_OBJECTS} objects ({path.split('?')[0]}): the listing does not "
                           "end")
        meta, objects = get_page(transport, path)
        out.extend(objects)
        nxt = meta.get("next") if objects else None
    return _dedup(out)


def _next_path(transport: Transport, nxt: Any) -> str:
    if not isinstance(nxt, str):
        raise ApiError(f"deployment {transport.name}: meta.next is not a path ({type(nxt).__name__})")
    return nxt


def _dedup(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects in order, each ``resource_uri`` once (pages shift when objects are added)."""
    return _fresh(objects, set())


def iter_concurrent(transport: Transport, resource: str, params: dict[str, Any] | None = None,
                    page_size: int = 500, workers: int = 5,
                    ) -> Generator[list[dict[str, Any]], None, None]:
    """The pages of ``resource`` in order as they arrive, each ``resource_uri`` once: the
    first page, then the others concurrently, at most ``2 * workers`` ahead of the consumer
    (so a slow consumer holds a few pages, not the list). The count is checked as in
    :func:`list_concurrent`, after the last page: ListChanged then means that what was
    yielded is not the list, and the caller reads it again."""
    base = dict(params or {})
    meta, objects = get_page(transport, resource, {**base, "limit": page_size, "offset": 0})
    total = meta.get("total_count")
    if not meta.get("next") or not objects or not isinstance(total, int) or total < 0:
        yield list_concurrent(transport, resource, params, page_size, workers)
        return
    seen: set[str] = set()
    granted = len(objects)
    if isinstance(meta.get("limit"), int) and 0 < meta["limit"] < granted:
        granted = meta["limit"]
    metas, count = [meta], 0
    offsets = iter(range(len(objects), total, granted))

    def ask(offset: int) -> Future[requests.Response]:
        return pool.submit(fetch_page, transport, resource, {**base, "limit": granted, "offset": offset})

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="infinity-list") as pool:
        # The next pages asked for before the first is handed over: the consumer's work on
        # it (naming its references lists other resources) no longer delays the rest.
        ahead = deque(ask(o) for o in islice(offsets, 2 * max(1, workers)))
        try:
            count += len(page := _fresh(objects, seen))
            yield page
            while ahead:
                resp = ahead.popleft().result()
                for o in islice(offsets, 1):
                    ahead.append(ask(o))
                # Decoded here, in the consumer's thread, not in the thread that read it: a
                # page's decode holds the GIL for milliseconds, and a consumer doing CPU work
                # waited for the listing threads' decodes each time it let go of the GIL.
                meta, objects = parse_page(transport, resource, resp)
                metas.append(meta)
                count += len(page := _fresh(objects, seen))
                yield page
        finally:  # a consumer that stops early (or a failed page): the pages not begun, not asked
            for future in ahead:
                future.cancel()
    if meta.get("next") and objects:  # objects added while we read: the tail
        tail = _follow(transport, meta, [])
        count += len(page := _fresh(tail, seen))
        yield page
    _checked(metas, [{}] * count, total)


def _fresh(objects: list[dict[str, Any]], seen: set[str]) -> list[dict[str, Any]]:
    """The objects whose ``resource_uri`` is not in ``seen`` yet, in order; ``seen`` grows."""
    out = []
    for obj in objects:
        uri = obj.get("resource_uri")
        if isinstance(uri, str):
            if uri in seen:
                continue
            seen.add(uri)
        out.append(obj)
    return out
