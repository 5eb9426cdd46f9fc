"""The console's pages over real HTTP from the daemon (no browser): bearer tokens, the 404
page, the kind filter, a failure naming no known node, nothing from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

from backup_agent.sim import Simulator
from tests.daemon.conftest import Daemon, daemons, wait_for
from tests.web.apikit import OPERATOR, VIEWER, sim, start

__all__ = ["daemons", "sim"]


def test_pages_answer_a_bearer_token_and_refuse_a_wrong_one(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    assert web.post_json("/api/v1/deployments/prod/backup").status == 202
    wait_for(lambda: web.get("/api/v1/deployments/prod/runs").json()[0]["outcome"] == "completed",
             what="the backup")
    index = web.get("/", token=VIEWER)
    assert index.status == 200 and index.headers["content-type"].startswith("text/html")
    assert 'data-deployment="prod"' in index.text and "config-backup" in index.text
    assert index.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in index.headers["content-security-policy"]
    # Nothing is fetched from elsewhere: every src and href is a path of this site.
    links = re.findall(r'(?:src|href)="([^"]*)"', index.text)
    assert links and all(link.startswith(("/", "#")) for link in links), links
    css = web.get("/static/console.css", token=None)
    assert css.status == 200 and "@import" not in css.text and "url(" not in css.text
    assert web.get("/", token="wrong").status == 401, "a script's wrong token is not a page"
    page = web.get("/deployments/prod", token=VIEWER)
    assert page.status == 200 and "Restore plan for prod" in page.text
    assert web.daemon.stop() == 0


def test_unknown_deployment_bad_kind_and_unknown_node_are_pages_that_say_so(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    missing = web.get("/deployments/nowhere", token=VIEWER)
    assert missing.status == 404 and missing.headers["content-type"].startswith("text/html")
    assert "There is no deployment named &#39;nowhere&#39;" in missing.text and "prod" in missing.text
    bad = web.get("/deployments/prod?kind=bogus", token=VIEWER)
    assert bad.status == 400 and "not a restore point kind" in bad.text
    snapshots = web.get("/deployments/prod?kind=snapshot", token=VIEWER)
    assert snapshots.status == 200 and "No restore point of kind snapshot yet" in snapshots.text
    unknown = web.get("/deployments/prod?failed=cn-nope", token=VIEWER)
    assert unknown.status == 200 and "--failed cn-nope: not a node of prod" in unknown.text
    bad_time = web.get("/deployments/prod?failed=management&down_since=yesterday", token=VIEWER)
    assert "not a time with a timezone" in bad_time.text
    nothing = web.call("POST", "/deployments/prod/prune", token=OPERATOR, body=b"",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert nothing.status == 404 and "not a run the console starts" in nothing.text
    assert "Traceback" not in web.daemon.stderr()
    assert web.daemon.stop() == 0
