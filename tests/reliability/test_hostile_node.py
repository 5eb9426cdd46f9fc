"""Defects 1, 3, 5, 6, 7, 8, 9, 13, 17 and the retry cap: the client against a hostile node."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backup_agent.config import Deployment, Secret
from backup_agent.errors import AgentError, ApiError, IntegrityError
from backup_agent.infinity import BackupInfo, FileSink, InfinityClient
from backup_agent.infinity import http as http_mod
from tests.reliability import hostile
from tests.reliability.hostile import HostileNode

PASSWORD = "Hostile-Pw-3f9a1c"
PASSPHRASE = "Hostile-Pp-8e2b7d-long"
CONF = "configuration/v1/conference/"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., InfinityClient]]:
    monkeypatch.setenv("HOSTILE_PW", PASSWORD)
    made: list[InfinityClient] = []

    def make(url: str, **kw: Any) -> InfinityClient:
        kw.setdefault("password", Secret("deployments.prod.password", env="HOSTILE_PW"))
        kw.setdefault("retries", 1)
        kw.setdefault("timeout", 3.0)
        c = InfinityClient(Deployment(name="prod", url=url, **kw), sleep=lambda s: None)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def nothing_reached_the_other_host(node: HostileNode) -> None:
    assert node.other is not None
    assert node.other.seen == [], [(s.method, s.path) for s in node.other.seen]


@pytest.mark.parametrize("form", ["HTTP://{other}/api/admin/x/", " http://{other}/api/admin/x/",
                                  "\thttp://{other}/api/admin/x/", "//{other}/api/admin/x/",
                                  "http://{other}:80/api/admin/x/", "hTtP://{other}/api/admin/x/"])
def test_links_to_another_host_are_not_followed(client: Any, form: str) -> None:
    with HostileNode(hostile.links_elsewhere(form)) as node:
        with pytest.raises(ApiError, match="refusing"):
            client(node.url).conferences()
        nothing_reached_the_other_host(node)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_off_the_node_are_not_followed(client: Any, status: int) -> None:
    with HostileNode(hostile.redirects_elsewhere(status)) as node:
        with pytest.raises(AgentError):
            client(node.url).create_backup(PASSPHRASE)
        nothing_reached_the_other_host(node)


def test_a_gzip_bomb_is_cut_at_the_answer_bound(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_mod, "MAX_ANSWER_BYTES", 8 << 20)
    bomb = hostile.gzip_bomb(200 << 20)  # 200 MiB decoded, 200 KiB sent
    with HostileNode(bomb) as node, pytest.raises(ApiError, match="more than"):
        client(node.url).conferences()


def test_a_trickling_answer_meets_its_deadline(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_mod, "REQUEST_DEADLINE", 1.5)
    body = hostile.page([{"id": 1, "resource_uri": "/x/1/"}])
    with HostileNode(hostile.trickle(0.1, body)) as node:  # every byte well within timeout
        t0 = time.monotonic()
        with pytest.raises(ApiError, match="deadline"):
            client(node.url, timeout=2.0).conferences()
        assert time.monotonic() - t0 < 6


def test_an_answer_below_the_minimum_rate_fails_soon_after_the_timeout(client: Any) -> None:
    """A page trickled at 100 bytes a second, each read within the timeout, took the whole
    600 s deadline; it fails once it has had the timeout and fallen under 16 KiB/s."""
    assert http_mod.REQUEST_DEADLINE == 600.0  # not lowered here: the rate is what ends it
    body = hostile.page([{"id": 1, "resource_uri": "/x/1/", "description": "d" * 5000}])
    with HostileNode(hostile.trickle(0.01, body)) as node:
        t0 = time.monotonic()
        with pytest.raises(ApiError, match=r"deadline .*under 16 KiB/s on average"):
            client(node.url, timeout=1.0).conferences()
        assert time.monotonic() - t0 < 5


def test_a_slow_steady_answer_above_the_minimum_rate_arrives(client: Any) -> None:
    """100 KB at about 40 KB/s (2.5 s, past a 1 s timeout) is slow, not broken."""
    objects = [{"id": i, "resource_uri": f"/x/{i}/", "description": "d" * 1000} for i in range(100)]
    with HostileNode(hostile.paced(10_000, 0.25, hostile.page(objects))) as node:
        got = client(node.url, timeout=1.0).conferences()
    assert len(got) == 100


def test_a_download_is_cut_at_the_listed_size(client: Any) -> None:
    def serve(h: hostile.Raw, node: HostileNode) -> None:
        h.answer(200, b"x" * (5 << 20), {"Content-Type": "application/octet-stream"})

    with HostileNode(serve) as node:
        info = BackupInfo(filename="b.tar", date=None, size=100, sha256sum="0" * 64,
                          version=None, build=None, resource_uri="/api/admin/b/",
                          download_uri="/api/admin/b/download")
        out = io.BytesIO()
        with pytest.raises(IntegrityError, match="101 bytes"):
            client(node.url).download_backup(info, FileSink(out))
        assert len(out.getvalue()) <= 101


def test_a_trickling_download_meets_its_deadline(client: Any) -> None:
    """Found by the fault matrix: the zero-copy download filled its whole buffer before
    looking at the clock, so 256 KiB at 200 bytes a second took 20 minutes, not 5 s."""
    size = 256 << 10  # deadline: timeout 1 s + 256 KiB at 64 KiB/s = 5 s
    with HostileNode(hostile.trickle(0.005, b"x" * size)) as node:
        info = BackupInfo(filename="b.tar", date=None, size=size, sha256sum="0" * 64,
                          version=None, build=None, resource_uri="/api/admin/b/",
                          download_uri="/api/admin/b/download")
        t0 = time.monotonic()
        with pytest.raises(ApiError, match="deadline"):
            client(node.url, timeout=1.0).download_backup(info, FileSink(io.BytesIO()))
        assert time.monotonic() - t0 < 8


def test_an_answer_cut_mid_body_is_retried_then_an_api_error(client: Any) -> None:
    """Found by the fault matrix: the cut surfaced as requests' ConnectionError, outside the
    error mapping: `export` ended "internal error: ConnectionError" (exit 1, a traceback's
    worth of text) instead of a failed run with its reason."""
    body = hostile.page([{"id": i, "resource_uri": f"/x/{i}/"} for i in range(50)])
    with HostileNode(hostile.cut_mid_body(body)) as node:
        with pytest.raises(ApiError, match=r"cut off mid-body .*closed before the end.*retried 1"):
            client(node.url).conferences()
        assert len(node.seen) == 2, "a GET is asked again once (retries = 1)"


def test_endless_meta_next_is_bounded(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from backup_agent.infinity import listing
    monkeypatch.setattr(listing, "MAX_PAGES", 50)
    with HostileNode(hostile.endless_next()) as node:
        with pytest.raises(ApiError, match="does not end"):
            client(node.url).conferences()
        assert len(node.seen) < 60


@pytest.mark.parametrize("total", [10**6 + 1, 10**12])
def test_a_huge_total_count_is_refused(client: Any, total: int) -> None:
    with HostileNode(hostile.claims_total(total)) as node:
        with pytest.raises(ApiError, match="claims"):
            client(node.url).conferences()
        assert len(node.seen) == 1


def test_deep_json_is_an_api_error(client: Any) -> None:
    with HostileNode(hostile.deep_json(100_000)) as node, pytest.raises(ApiError, match="malformed JSON"):
        client(node.url).conferences()


def test_a_10_mb_error_message_is_quoted_short(client: Any) -> None:
    with HostileNode(hostile.huge_error(10 << 20)) as node, pytest.raises(ApiError) as failed:
        client(node.url).conferences()
    assert len(str(failed.value)) < 600


def test_retry_after_beyond_the_cap_fails_at_once(client: Any) -> None:
    with HostileNode(hostile.retry_after(10_000)) as node:
        with pytest.raises(ApiError, match="asks to wait"):
            client(node.url, retries=5).conferences()
        assert len(node.seen) == 1


def test_a_password_outside_latin_1(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def serve(h: hostile.Raw, node: HostileNode) -> None:
        h.answer(200, hostile.page([]))

    with HostileNode(serve) as node:
        monkeypatch.setenv("HOSTILE_PW", "pässwörd-€-Ω")
        assert client(node.url, username="ädmin").conferences() == []
        sent = node.seen[0].headers["Authorization"]
    assert base64.b64decode(sent.split()[1]).decode() == "ädmin:pässwörd-€-Ω"


def test_plain_http_to_another_host_warns(monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("HOSTILE_PW", PASSWORD)
    dep = Deployment(name="prod", url="http://mgr.example.com",
                     password=Secret("deployments.prod.password", env="HOSTILE_PW"))
    InfinityClient(dep).close()
    assert "in clear" in caplog.text
