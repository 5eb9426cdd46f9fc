"""Transport: retries, Retry-After, the concurrency bound, error mapping, TLS. Real sockets only."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest

from backup_agent.errors import ApiError, AuthError, ConnectError, SecretError
from backup_agent.infinity import InfinityClient
from backup_agent.infinity.http import RETRY_AFTER_CAP
from providers.retry import parse_retry_after
from tests.infinity.conftest import PASSWORD, Sleeps, deployment
from tests.infinity.peers import Handler, LocalServer, free_port, self_signed

CONF = "configuration/v1/conference/"


@pytest.fixture
def sim(shared_sim: Any) -> Iterator[Any]:
    """The module's simulator, with every fault disarmed after the test."""
    yield shared_sim
    shared_sim.faults.clear()


def _page(objects: list[dict[str, Any]], total: int | None = None, nxt: str | None = None) -> bytes:
    meta = {"limit": len(objects), "offset": 0, "next": nxt, "previous": None,
            "total_count": len(objects) if total is None else total}
    return json.dumps({"meta": meta, "objects": objects}).encode()


# -- retries -----------------------------------------------------------------------------------
def test_5xx_burst_is_retried_with_growing_backoff(sim: Any, make_client: Any, sleeps: Sleeps) -> None:
    sim.faults.fail_next(3, status=503)
    client = make_client(sim.url, retries=3)
    assert len(client.conferences()) == 300
    assert len(sleeps.calls) == 3
    for i, delay in enumerate(sleeps.calls):  # 0.5 s doubling, jitter takes up to half off
        assert 0.25 * 2 ** i <= delay <= 0.5 * 2 ** i


def test_5xx_forever_ends_in_a_clear_failure(sim: Any, make_client: Any, sleeps: Sleeps) -> None:
    sim.faults.fail_next(50, status=500)
    client = make_client(sim.url, retries=2)
    with pytest.raises(ApiError) as err:
        client.conferences()
    assert "retried 2 times" in str(err.value)
    assert "HTTP 500" in str(err.value)
    assert str(err.value).startswith("deployment prod: ")
    assert len(sleeps.calls) == 2


def test_4xx_is_not_retried(sim: Any, make_client: Any, sleeps: Sleeps) -> None:
    client = make_client(sim.url)
    with pytest.raises(ApiError, match="HTTP 404"):
        client.get("configuration/v1/conference/999999/")
    assert sleeps.calls == []


def test_429_honours_retry_after_seconds(sim: Any, make_client: Any, sleeps: Sleeps) -> None:
    sim.faults.rate_limit_next(2, retry_after=7)
    client = make_client(sim.url)
    assert client.count(CONF) == 300
    assert sleeps.calls == [7.0, 7.0]


def test_429_forever_is_a_clear_failure(sim: Any, make_client: Any, sleeps: Sleeps) -> None:
    sim.faults.rate_limit_next(20, retry_after=1)
    client = make_client(sim.url, retries=4)
    with pytest.raises(ApiError, match=r"HTTP 429 \(retried 4 times\)"):
        client.count(CONF)
    assert sleeps.calls == [1.0] * 4


def test_retry_after_http_date_and_cap() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 42, usegmt=True), now) == pytest.approx(42)
    assert parse_retry_after(formatdate(now - 5, usegmt=True), now) == 0.0
    assert parse_retry_after("12", now) == 12.0
    assert parse_retry_after("soon", now) is None


def test_retry_after_beyond_the_cap_fails_fast(make_client: Any, sleeps: Sleeps) -> None:
    """A node asking for a day is not waited for 5 x 120 s: the run fails now, saying why."""
    calls = []

    def route(h: Handler) -> tuple[int, dict[str, str], bytes]:
        calls.append(h.path)
        if len(calls) == 1:
            return 429, {"Retry-After": formatdate(time.time() + 86400, usegmt=True)}, b"{}"
        return 200, {}, _page([{"id": 1, "resource_uri": "/x/1/"}])

    with LocalServer(route) as srv, pytest.raises(ApiError, match=r"asks to wait 86[34]\d\d s"):
        make_client(srv.url).count(CONF)
    assert sleeps.calls == [] and len(calls) == 1 and RETRY_AFTER_CAP < 86400


@pytest.mark.parametrize(("status", "honoured"), [(503, True), (429, True), (500, False), (502, False)])
def test_retry_after_is_honoured_for_429_and_503_only(make_client: Any, sleeps: Sleeps,
                                                      status: int, honoured: bool) -> None:
    """Retry-After means "come back then" on 429 and 503 (RFC 9110, 6585); on another 5xx it
    is not the server's answer to the load, and the policy's backoff applies."""
    calls = []

    def route(h: Handler) -> tuple[int, dict[str, str], bytes]:
        calls.append(h.path)
        if len(calls) == 1:
            return status, {"Retry-After": "7"}, b"{}"
        return 200, {}, _page([{"id": 1, "resource_uri": "/x/1/"}])

    with LocalServer(route) as srv:
        assert make_client(srv.url).count(CONF) == 1
    [slept] = sleeps.calls
    assert (slept == 7.0) if honoured else (0.25 <= slept <= 0.5)


# -- answers that are not the API ---------------------------------------------------------------
def test_html_answer_is_named(sim: Any, make_client: Any, sleeps: Sleeps) -> None:
    sim.faults.html_next(1)
    with pytest.raises(ApiError) as err:
        make_client(sim.url).conferences()
    assert "answered HTML, not JSON" in str(err.value)
    assert "is url the Management Node?" in str(err.value)
    assert sleeps.calls == []


def test_malformed_json_is_named(sim: Any, make_client: Any) -> None:
    sim.faults.malformed_json_next(1)
    with pytest.raises(ApiError, match="malformed JSON"):
        make_client(sim.url).conferences()


@pytest.mark.parametrize("body", [b'{"foo": 1}', b"[1, 2]", b'{"meta": {}, "objects": [1]}'])
def test_wrong_envelope_is_refused(make_client: Any, body: bytes) -> None:
    with LocalServer(lambda h: (200, {}, body)) as srv, pytest.raises(ApiError) as err:
        make_client(srv.url).conferences()
    assert "is url the Management Node?" in str(err.value) or "not JSON objects" in str(err.value)


def test_garbage_bytes_are_malformed_json(make_client: Any) -> None:
    with LocalServer(lambda h: (200, {"Content-Type": "application/octet-stream"},
                                b"\x00\xff garbage")) as srv, pytest.raises(ApiError, match="malformed"):
        make_client(srv.url).alarms()


# -- credentials and reachability ----------------------------------------------------------------
def test_wrong_password_is_an_auth_error(sim: Any, make_client: Any, sleeps: Sleeps,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFINITY_TEST_PASSWORD", "wrong-" + PASSWORD)
    with pytest.raises(AuthError) as err:
        make_client(sim.url).conferences()
    assert str(err.value) == ("deployment prod: the Management Node refused the credentials "
                              "(HTTP 401): check username and password_env")
    assert sleeps.calls == []


def test_403_is_an_auth_error(make_client: Any) -> None:
    with LocalServer(lambda h: (403, {}, b'{"error": "forbidden"}')) as srv, \
            pytest.raises(AuthError, match=r"HTTP 403"):
        make_client(srv.url).alarms()


def test_refused_connection_names_the_url(make_client: Any, sleeps: Sleeps) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectError) as err:
        make_client(url, retries=2).conferences()
    msg = str(err.value)
    assert url in msg and "connection refused" in msg and "retried 2 times" in msg
    assert PASSWORD not in msg
    assert len(sleeps.calls) == 2


def test_unknown_host_is_a_connect_error(make_client: Any) -> None:
    with pytest.raises(ConnectError, match="host name not found"):
        make_client("http://mgr.invalid", retries=0).conferences()


def test_timeout_is_a_connect_error(make_client: Any) -> None:
    stop = threading.Event()

    def slow(h: Handler) -> tuple[int, dict[str, str], bytes]:
        stop.wait(5)
        return 200, {}, _page([])

    with LocalServer(slow) as srv:
        try:
            with pytest.raises(ConnectError, match=r"no answer within 0.3 s"):
                make_client(srv.url, retries=1, timeout=0.3).alarms()
        finally:
            stop.set()


def test_tls_failure_with_verify_on_mentions_ca_bundle(tmp_path: Any, make_client: Any,
                                                       sleeps: Sleeps) -> None:
    cert, key = self_signed(tmp_path)
    with LocalServer(lambda h: (200, {}, _page([])), tls=(cert, key)) as srv:
        with pytest.raises(ConnectError) as err:
            make_client(srv.url).alarms()
        assert "ca_bundle" in str(err.value)
        assert "certificate verify failed" in str(err.value)
        assert sleeps.calls == []  # a certificate does not get better by asking again
        assert make_client(srv.url, ca_bundle=str(cert)).alarms() == []


def test_verify_tls_false_warns_every_time(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    cert, key = self_signed(tmp_path)
    caplog.set_level(logging.WARNING, logger="backup_agent.infinity")
    with LocalServer(lambda h: (200, {}, _page([])), tls=(cert, key)) as srv:
        for _ in range(2):
            with InfinityClient(deployment(srv.url, verify_tls=False)) as client:
                assert client.alarms() == []
    warnings = [r for r in caplog.records if "verify_tls = false" in r.getMessage()]
    assert len(warnings) == 2


def test_next_pointing_to_another_host_is_refused(make_client: Any) -> None:
    body = _page([{"id": 1, "resource_uri": "/a/1/"}], total=2, nxt="http://evil.example/api/admin/x/")
    with LocalServer(lambda h: (200, {}, body)) as srv, pytest.raises(ApiError, match="another host"):
        make_client(srv.url).list_all(CONF, sequential=True)


# -- the concurrency bound ----------------------------------------------------------------------
class InFlight:
    """A route that holds each request 40 ms and records the most in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, h: Handler) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(0.04)
        with self.lock:
            self.now -= 1
        offset = int(h.path.split("offset=")[1].split("&")[0]) if "offset=" in h.path else 0
        objs = [{"id": i, "resource_uri": f"/c/{i}/"} for i in range(offset, min(offset + 10, 200))]
        nxt = f"/api/admin/{CONF}?limit=10&offset={offset + 10}" if offset + 10 < 200 else None
        meta = {"limit": 10, "offset": offset, "total_count": 200, "next": nxt}
        return 200, {}, json.dumps({"meta": meta, "objects": objs}).encode()


def test_concurrency_bound_holds_for_listing_and_threads(make_client: Any) -> None:
    route = InFlight()
    with LocalServer(route) as srv:
        client = make_client(srv.url, max_concurrency=3)
        objs = client.list_all(CONF, page_size=10)
        assert [o["id"] for o in objs] == list(range(200))
        assert route.peak == 3  # concurrent, and never more than the bound
        route.peak = 0
        threads = [threading.Thread(target=client.count, args=(CONF,)) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 2 <= route.peak <= 3


# -- create and delete --------------------------------------------------------------------------
def test_create_parses_location_and_delete_removes(sim: Any, make_client: Any) -> None:
    client = make_client(sim.url)
    new_id = client.create_conference({"name": "client-test-room", "service_type": "conference"})
    room = client.get(f"{CONF}{new_id}/")
    assert room["name"] == "client-test-room"
    alias_id = client.create_alias({"alias": "client-test@example.com",
                                    "conference": room["resource_uri"]})
    assert isinstance(alias_id, int)
    client.delete_conference(new_id)
    with pytest.raises(ApiError, match="HTTP 404"):
        client.get(f"{CONF}{new_id}/")


def test_create_without_location_is_an_error(make_client: Any) -> None:
    with LocalServer(lambda h: (201, {}, b"")) as srv, pytest.raises(ApiError, match="Location"):
        make_client(srv.url).create_conference({"name": "x"})


def test_wrong_url_answering_an_html_404_is_named(make_client: Any) -> None:
    page = b"<html><body>Not Found</body></html>"
    with LocalServer(lambda h: (404, {"Content-Type": "text/html"}, page)) as srv, \
            pytest.raises(ApiError) as err:
        make_client(srv.url).conferences()
    assert "HTTP 404" in str(err.value) and "is url the Management Node?" in str(err.value)


def test_missing_password_variable_is_a_secret_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFINITY_TEST_PASSWORD")
    with pytest.raises(SecretError, match="INFINITY_TEST_PASSWORD is not set"):
        InfinityClient(deployment("http://127.0.0.1:9"))
