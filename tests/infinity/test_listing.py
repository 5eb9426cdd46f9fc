"""Listing: meta.next paths, large pages, capped limits, concurrency, order and de-duplication."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from backup_agent.errors import ApiError
from tests.infinity.peers import Handler, LocalServer

CONF = "configuration/v1/conference/"
ALIAS = "configuration/v1/conference_alias/"


def _served(sim: Any) -> int:
    return int(sim.state.requests_served)


def test_sequential_follows_next_paths_at_default_page_size(shared_sim: Any, make_client: Any) -> None:
    client = make_client(shared_sim.url)
    before = _served(shared_sim)
    rooms = client.list_all(CONF, sequential=True)
    assert len(rooms) == 300
    assert _served(shared_sim) - before == 15  # 300 / 20, one request per meta.next
    assert len({r["resource_uri"] for r in rooms}) == 300


def test_fast_listing_matches_sequential_in_order(shared_sim: Any, make_client: Any) -> None:
    client = make_client(shared_sim.url, page_size=40)
    before = _served(shared_sim)
    fast = client.aliases()
    assert _served(shared_sim) - before == 15  # 600 / 40 pages, no more
    slow = client.list_all(ALIAS, sequential=True, page_size=50)
    assert fast == slow
    assert len(fast) == 600


def test_large_pages_mean_few_requests(shared_sim: Any, make_client: Any) -> None:
    client = make_client(shared_sim.url)  # page_size 500 by default
    before = _served(shared_sim)
    assert len(client.conferences()) == 300
    assert _served(shared_sim) - before == 1


def test_capped_limit_is_followed_by_meta(sim_factory: Any, make_client: Any) -> None:
    sim = sim_factory(rooms=230, aliases_per_room=1, max_page_size=50)
    client = make_client(sim.url, page_size=500)
    before = _served(sim)
    rooms = client.conferences()
    assert len(rooms) == 230 == len({r["resource_uri"] for r in rooms})
    assert _served(sim) - before == 5  # 50 granted per page, not 500
    assert rooms == client.list_all(CONF, sequential=True)


def test_filters_are_passed_on(shared_sim: Any, make_client: Any) -> None:
    client = make_client(shared_sim.url, page_size=7)
    lectures = client.conferences({"service_type": "lecture"})
    assert lectures and all(r["service_type"] == "lecture" for r in lectures)
    assert len(lectures) == client.count(CONF, {"service_type": "lecture"})


def test_resources_answer_lists(shared_sim: Any, make_client: Any) -> None:
    client = make_client(shared_sim.url)
    assert client.system_locations()
    assert client.management_vm_status()[0]["version"]
    assert len(client.worker_vm_status()) == len(client.worker_vm_config()) > 0
    assert isinstance(client.alarms(), list)
    assert isinstance(client.automatic_participants(), list)
    assert "autobackup_enabled" in client.autobackup()


class Shifting:
    """Pages that overlap (an object inserted meanwhile) and a last page that has a next."""

    def __init__(self, total_known: int, total_real: int, with_total: bool = True) -> None:
        self.known, self.real, self.with_total = total_known, total_real, with_total
        self.paths: list[str] = []

    def __call__(self, h: Handler) -> tuple[int, dict[str, str], bytes]:
        self.paths.append(h.path)
        q = {k: int(v[0]) for k, v in parse_qs(urlsplit(h.path).query).items()}
        limit, offset = min(q.get("limit", 20), 10), q.get("offset", 0)
        # every page after the first repeats the previous page's last object (a shift)
        start = offset - 1 if offset else 0
        end = min(offset + limit, self.real)
        objs = [{"id": i, "resource_uri": f"/c/{i}/"} for i in range(start, end)]
        nxt = f"/api/admin/{CONF}?limit={limit}&offset={offset + limit}" if end < self.real else None
        meta: dict[str, Any] = {"limit": limit, "offset": offset, "next": nxt}
        if self.with_total:
            meta["total_count"] = self.known
        return 200, {}, json.dumps({"meta": meta, "objects": objs}).encode()


@pytest.mark.parametrize("sequential", [False, True])
def test_overlapping_pages_are_deduplicated(make_client: Any, sequential: bool) -> None:
    route = Shifting(95, 95)
    with LocalServer(route) as srv:
        objs = make_client(srv.url).list_all(CONF, sequential=sequential, page_size=100)
    assert [o["id"] for o in objs] == list(range(95))


def test_objects_added_while_listing_are_picked_up(make_client: Any) -> None:
    route = Shifting(total_known=50, total_real=73)  # total_count is stale
    with LocalServer(route) as srv:
        objs = make_client(srv.url).list_all(CONF, page_size=100)
    assert [o["id"] for o in objs] == list(range(73))


def test_no_total_count_falls_back_to_next(make_client: Any) -> None:
    route = Shifting(0, 42, with_total=False)
    with LocalServer(route) as srv:
        objs = make_client(srv.url).list_all(CONF)
    assert [o["id"] for o in objs] == list(range(42))
    assert all(p.startswith("/api/admin/configuration/v1/conference/") for p in route.paths)


def test_next_that_loops_is_an_error(make_client: Any) -> None:
    def route(h: Handler) -> tuple[int, dict[str, str], bytes]:
        meta = {"limit": 1, "offset": 0, "next": f"/api/admin/{CONF}?limit=1&offset=1"}
        return 200, {}, json.dumps({"meta": meta, "objects": [{"id": 1, "resource_uri": "/c/1/"}]}).encode()

    with LocalServer(route) as srv, pytest.raises(ApiError, match="loops"):
        make_client(srv.url).list_all(CONF, sequential=True)


def test_a_room_deleted_mid_listing_is_not_silently_skipped(sim_factory: Any, make_client: Any) -> None:
    """Concurrent offset pages after a deletion shift: the count check re-reads once."""
    sim = sim_factory(rooms=60, aliases_per_room=1)
    client = make_client(sim.url, page_size=10)
    sim.faults.change_during_list("delete", after=1)  # before the second page is answered
    rooms = client.list_all(CONF, {"order_by": "id"})
    assert sim.state.room_count == 59
    assert sorted(r["id"] for r in rooms) == sorted(r["id"] for r in sim.state.config.rows("conference"))


def test_a_list_that_keeps_changing_fails_clearly(sim_factory: Any, make_client: Any) -> None:
    sim = sim_factory(rooms=60, aliases_per_room=1)
    client = make_client(sim.url, page_size=10)
    sim.faults.change_during_list("delete", after=1, times=1000)
    with pytest.raises(ApiError, match=r"changed while it was read.*run it again"):
        client.list_all(CONF, {"order_by": "id"})


def test_a_room_added_mid_listing_is_read(sim_factory: Any, make_client: Any) -> None:
    sim = sim_factory(rooms=60, aliases_per_room=1)
    client = make_client(sim.url, page_size=10)
    sim.faults.change_during_list("add", after=2)
    rooms = client.list_all(CONF, {"order_by": "id"})
    assert len(rooms) == 61 == len({r["id"] for r in rooms})


def test_page_stream_asks_ahead_of_the_first_page_and_stops_when_closed(sim_factory: Any,
                                                                       make_client: Any) -> None:
    """The pages after the first are asked for before the consumer gets the first (its work on
    it does not hold them up); a consumer that stops there leaves the rest of the list unread."""
    from backup_agent.infinity.listing import iter_concurrent

    sim = sim_factory(rooms=400, latency_ms=50)
    client = make_client(sim.url)
    pages = iter_concurrent(client.transport, CONF, None, page_size=10, workers=2)
    before = _served(sim)
    first = next(pages)
    assert len(first) == 10
    import time

    time.sleep(0.3)  # the consumer busy with the first page: the next ones arrive meanwhile
    started = _served(sim) - before
    assert started >= 2, "pages were asked for while the consumer worked"
    pages.close()
    time.sleep(0.2)
    assert _served(sim) - before <= 1 + 2 * 2, "closed: no page past the ones asked ahead"
