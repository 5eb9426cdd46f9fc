"""Concurrent clients: a threaded server, consistent answers, latency that overlaps."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.sim.conftest import CONF, make_sim


def test_concurrent_pages_are_served_in_parallel_and_consistent() -> None:
    sim = make_sim(rooms=400, latency_ms=100)
    try:
        def fetch(offset: int) -> list[int]:
            with requests.Session() as s:
                s.auth = ("admin", "sim-admin")
                answer = s.get(f"{sim.url}{CONF}conference/?limit=20&offset={offset}", timeout=30)
                answer.raise_for_status()
                return [r["id"] for r in answer.json()["objects"]]

        start = time.perf_counter()
        with ThreadPoolExecutor(20) as pool:
            pages = list(pool.map(fetch, range(0, 400, 20)))
        elapsed = time.perf_counter() - start
        assert sorted(i for p in pages for i in p) == list(range(1, 401))
        assert sim.state.requests_served == 20
        # 20 requests of 100 ms each: sequentially 2 s; a threaded server overlaps them
        assert elapsed < 1.5, f"{elapsed:.2f} s: requests were not served concurrently"
        assert elapsed >= 0.1, "every request waits latency_ms"
    finally:
        sim.stop()


def test_concurrent_writes_keep_ids_and_names_unique() -> None:
    sim = make_sim(rooms=0, conferencing_nodes=0)
    try:
        def create(i: int) -> int:
            answer = requests.post(f"{sim.url}{CONF}conference/", auth=("admin", "sim-admin"),
                                   json={"name": f"room {i % 25}", "aliases": [{"alias": f"r{i}@x"}]},
                                   timeout=30)
            return answer.status_code

        with ThreadPoolExecutor(10) as pool:
            codes = list(pool.map(create, range(50)))
        assert codes.count(201) == 25 and codes.count(400) == 25
        assert sim.state.room_count == 25 and sim.state.alias_count == 25
    finally:
        sim.stop()
