"""The console in a real browser: Debian's chromium, headless, against the real daemon
(``backup-agent run`` in a subprocess) and the simulator over HTTP."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from backup_agent.sim import SimOptions, Simulator
from tests.daemon.conftest import Daemon, daemons
from tests.jobs.conftest import PASSWORD
from tests.web.apikit import OFF, OPERATOR, VIEWER, Web, sim, start
from tests.web.browserkit import CHROMIUM, browser, reload_until, sign_in

__all__ = ["daemons", "sim"]
pytestmark = pytest.mark.peer("chromium")
WATCH = {**OFF, "watch": "@every 1s"}


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: run tests/peers/install-chromium.sh")


def base(web: Web) -> str:
    return f"http://127.0.0.1:{web.port}"


def runs(tmp_path: Path, job: str) -> list[tuple[str, str | None, str | None]]:
    with sqlite3.connect(tmp_path / "var" / "catalog.db") as db:
        return db.execute("SELECT id, outcome, actor FROM runs WHERE job=? ORDER BY started_at",
                          (job,)).fetchall()


def wait_for(predicate: object, timeout: float = 30, what: str = "it") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():  # type: ignore[operator]
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} after {timeout} s")


def test_sign_in_with_a_token_shows_the_card_and_nothing_before(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons, schedule=WATCH)
    wait_for(lambda: [r for r in runs(tmp_path, "watch") if r[1] == "completed"], what="watch")
    with browser() as ctx:
        page = ctx.new_page()
        page.goto(f"{base(web)}/deployments/prod")
        assert "/signin" in page.url and "prod" not in page.inner_text("body")
        assert "Management Node" not in page.content()
        page.fill("input[name=token]", "not-the-token")
        page.click("button[type=submit]")
        assert "not valid" in page.inner_text("main") and "Management Node" not in page.content()
        sign_in(page, base(web), OPERATOR)
        card = page.locator("article.card[data-deployment=prod]")
        assert card.locator("h2").inner_text() == "prod"
        assert "Management Node up" in card.inner_text()
        assert "ops-team (operator)" in page.inner_text("header")
        assert page.locator("section.clock").count() == 0, "no clock while the node answers"
    assert web.daemon.stop() == 0


def test_a_stopped_management_node_shows_the_autonomy_clock_after_a_watch(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons, schedule=WATCH)
    # A backup first: its inventory names the Conferencing Nodes that run on their own.
    assert web.post_json("/api/v1/deployments/prod/backup").status == 202
    wait_for(lambda: [r for r in runs(tmp_path, "backup") if r[1] == "completed"], what="backup")
    wait_for(lambda: [r for r in runs(tmp_path, "watch") if r[1] == "completed"], what="watch")
    with browser() as ctx:
        page = ctx.new_page()
        sign_in(page, base(web), VIEWER)
        assert "Management Node up" in page.inner_text("article.card")
        sim.state.set_management_down()  # the node answers 503 to everything
        reload_until(page, lambda: page.locator("section.clock.level-warning").count(), what="the clock")
        text = page.inner_text("section.clock")
        assert "Autonomy clock: running" in text and "h left" in text and "Deadline" in text
        assert "Management Node DOWN" in page.inner_text("article.card")
        sim.state.set_management_up()
        reload_until(page, lambda: page.locator("section.clock").count() == 0, what="the clock gone")
    assert web.daemon.stop() == 0


def test_an_operator_starts_a_checkpoint_and_sees_its_run_a_viewer_is_refused(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    with browser() as ctx:
        viewer = ctx.new_page()
        sign_in(viewer, base(web), VIEWER)
        assert viewer.locator("div.triggers").count() == 0, "a viewer is offered no button"
        csrf = viewer.get_attribute("form[action='/signout'] input[name=csrf_token]", "value")
        refused = viewer.request.post(f"{base(web)}/deployments/prod/checkpoint",
                                      form={"csrf_token": csrf or ""}, max_redirects=0)
        assert refused.status == 403 and "a viewer" in refused.text()
        assert runs(tmp_path, "checkpoint") == [], "nothing was started"
    with browser() as ctx:
        page = ctx.new_page()
        sign_in(page, base(web), OPERATOR)
        forged = page.request.post(f"{base(web)}/deployments/prod/checkpoint",
                                   form={"csrf_token": "forged"}, max_redirects=0)
        assert forged.status == 403 and "CSRF" in forged.text()
        assert runs(tmp_path, "checkpoint") == []
        page.click("article.card[data-deployment=prod] button[value=checkpoint]")
        page.wait_for_load_state()
        assert page.url.startswith(f"{base(web)}/deployments/prod?started=")
        assert "The checkpoint started" in page.inner_text("p.notice")
        [(run_id, _, actor)] = runs(tmp_path, "checkpoint")
        assert actor == "token:ops-team"
        row = reload_until(page, lambda: "completed" in (page.locator(f"tr[id='{run_id}']").inner_text()
                                                      if page.locator(f"tr[id='{run_id}']").count() else ""),
                           what="the finished checkpoint")
        assert row
        assert "by token:ops-team" in page.locator(f"tr[id='{run_id}']").inner_text()
        page.goto(f"{base(web)}/")
        assert "checkpoint" in page.inner_text("article.card ul.runs")
    assert web.daemon.stop() == 0


def test_an_expired_session_goes_back_to_sign_in(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons, daemon_keys='session_idle = "2s"')
    with browser() as ctx:
        page = ctx.new_page()
        sign_in(page, base(web), OPERATOR)
        assert page.locator("article.card").count() == 1
        time.sleep(3)
        page.goto(f"{base(web)}/deployments/prod")
        assert "/signin" in page.url and "prod" not in page.inner_text("main")
        sign_in(page, base(web), OPERATOR)
        assert page.locator("article.card").count() == 1
    assert web.daemon.stop() == 0


def test_names_holding_markup_show_as_text(tmp_path: Path, daemons: list[Daemon]) -> None:
    # The Management Node's name goes into the backup's file name, where a "/" is refused.
    hostile_mn = "<svg onload=window.pwned=1>"
    hostile_cn = "<script>window.pwned=2</script>"
    with Simulator(SimOptions(rooms=5, conferencing_nodes=1, password=PASSWORD,
                              backup_request_seconds=0.05, management_name=hostile_mn)) as s:
        s.state.add_node(hostile_cn)
        web = start(tmp_path, s.url, daemons, schedule=WATCH)
        assert web.post_json("/api/v1/deployments/prod/backup").status == 202
        wait_for(lambda: [r for r in runs(tmp_path, "backup") if r[1] == "completed"], what="the backup")
        with browser() as ctx:
            page = ctx.new_page()
            sign_in(page, base(web), OPERATOR)
            assert hostile_mn in page.inner_text("article.card"), page.inner_text("article.card")
            page.goto(f"{base(web)}/deployments/prod?failed=management&failed={quote(hostile_cn)}")
            assert hostile_cn in page.inner_text("section#plan")
            assert hostile_mn in page.inner_text("article.runbook")
            assert page.evaluate("window.pwned") is None
            assert page.locator("main script, main svg").count() == 0
        assert web.daemon.stop() == 0
