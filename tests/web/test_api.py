"""The API through real HTTP against a daemon on the simulator: every endpoint, every role."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backup_agent.sim import SimOptions, Simulator
from tests.daemon.conftest import Daemon
from tests.jobs.conftest import PASSWORD
from tests.web.apikit import (
    OPERATOR,
    VIEWER,
    Web,
    assert_no_leak,
    catalog_rows,
    start,
    wait_run,
)

READS = ["/api/v1/deployments", "/api/v1/status", "/api/v1/session",
         "/api/v1/deployments/prod/status", "/api/v1/deployments/prod/restore-points",
         "/api/v1/deployments/prod/restore-points?kind=config-backup&limit=1",
         "/api/v1/deployments/prod/runs", "/api/v1/deployments/prod/runs?job=backup&limit=2",
         "/api/v1/deployments/prod/plan?failed=management", "/api/v1/deployments/prod/plan",
         "/api/v1/deployments/prod/evidence?failed=management&probe=false",
         "/api/v1/deployments/prod/restore-journal", "/api/v1/openapi.json"]
PER_DEPLOYMENT = ["status", "restore-points", "runs", "plan", "evidence", "restore-journal"]
TRIGGERS = ["backup", "export", "checkpoint"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Web, Path, Simulator]]:
    """One daemon for the module, with a backup and an export made through the API."""
    tmp = tmp_path_factory.mktemp("api")
    with Simulator(SimOptions(rooms=20, conferencing_nodes=2, password=PASSWORD,
                              backup_request_seconds=0.05)) as sim:
        daemons: list[Daemon] = []
        web = start(tmp, sim.url, daemons, schedule={"watch": "@every 1s"})
        try:
            for job in ("backup", "export"):
                accepted = web.post_json(f"/api/v1/deployments/prod/{job}")
                assert accepted.status == 202, accepted.text
                assert wait_run(web, accepted.json()["run_id"])["outcome"] == "completed"
            yield web, tmp, sim
        finally:
            for d in daemons:
                d.stop()
            assert_no_leak(daemons[0].stderr())


@pytest.mark.parametrize("token", [VIEWER, OPERATOR], ids=["viewer", "operator"])
@pytest.mark.parametrize("path", READS)
def test_every_read_answers_both_roles_and_changes_nothing(site: tuple[Web, Path, Simulator],
                                                           path: str, token: str) -> None:
    web, tmp, _ = site
    before = catalog_rows(tmp)
    answer = web.get(path, token=token)
    assert answer.status == 200, answer.text
    assert isinstance(answer.json(), dict | list)
    assert_no_leak(answer.text)
    after = catalog_rows(tmp)
    assert after["restore_points"] == before["restore_points"] and after["restores"] == before["restores"]


@pytest.mark.parametrize("path", READS)
def test_every_read_refuses_no_token_and_a_wrong_one(site: tuple[Web, Path, Simulator], path: str) -> None:
    web, _, _ = site
    # Each path from an address of its own: the wrong tokens of all of them, from one, would
    # pass the limit on wrong tokens (tests/web/test_ratelimit.py) for the whole module.
    source = f"127.0.1.{READS.index(path) + 1}"
    for token in (None, "not-the-T0ken-at-all-xxxx", OPERATOR + "x"):
        answer = web.get(path, token=token, source=source)
        assert answer.status == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"
        assert set(answer.json()) == {"error"} and "deployment" not in answer.text
        assert_no_leak(answer.text)


def test_the_documents_have_their_shapes(site: tuple[Web, Path, Simulator]) -> None:
    web, _, sim = site
    assert web.get("/api/v1/deployments").json() == [{"name": "prod", "url": sim.url, "nodes": []}]
    status = web.get("/api/v1/deployments/prod/status").json()
    assert status["deployment"] == "prod" and status["health"] == "healthy", status
    # From the watch job's record, not a probe: the clock is computed, the node is up.
    assert status["management_node"] == "up" and status["autonomy"]["applies"] is False
    assert status["newest"]["config-backup"]["verified"] is True
    everyone = web.get("/api/v1/status").json()
    assert everyone["health"] == "healthy" and [s["deployment"] for s in everyone["deployments"]] == ["prod"]
    assert everyone["alerts"] == []
    points = web.get("/api/v1/deployments/prod/restore-points").json()
    assert {p["kind"] for p in points} >= {"config-backup", "room-export", "inventory"}
    only = web.get("/api/v1/deployments/prod/restore-points?kind=room-export&limit=1").json()
    assert len(only) == 1 and only[0]["kind"] == "room-export"
    assert all(p["taken_at"] >= q["taken_at"] for p, q in itertools.pairwise(points))
    runs = web.get("/api/v1/deployments/prod/runs?job=backup").json()
    assert [r["actor"] for r in runs] == ["token:ops-team"] and runs[0]["items"]
    plan = web.get("/api/v1/deployments/prod/plan?failed=management").json()
    assert plan["paths"] and plan["paths"][0]["number"] == 1 and "# " in plan["runbook"]
    evidence = web.get("/api/v1/deployments/prod/evidence?failed=management&probe=false").json()
    assert evidence["failed"] == ["management"] and evidence["management_node"]["status"] == "down"
    assert web.get("/api/v1/deployments/prod/restore-journal").json() == []
    me = web.get("/api/v1/session", token=VIEWER).json()
    assert me == {"name": "watchers", "role": "viewer", "via": "token", "csrf_token": None}


def test_evidence_is_the_document_of_the_evidence_command(site: tuple[Web, Path, Simulator],
                                                          agent: Any) -> None:
    web, tmp, _ = site
    api = web.get("/api/v1/deployments/prod/evidence?failed=management&probe=false").json()
    code, out, err = agent("--config", str(tmp / "agent.toml"), "evidence", "--failed", "management",
                           "--no-probe")
    assert code == 0, err
    import json

    cli = json.loads(out)
    assert {k: v for k, v in api.items() if k != "now"} == {k: v for k, v in cli.items() if k != "now"}


@pytest.mark.parametrize("what", PER_DEPLOYMENT)
def test_an_unknown_deployment_is_404(site: tuple[Web, Path, Simulator], what: str) -> None:
    web, _, _ = site
    answer = web.get(f"/api/v1/deployments/nowhere/{what}", token=VIEWER)
    assert answer.status == 404 and answer.json() == {"error": "no deployment named 'nowhere'"}


@pytest.mark.parametrize("job", TRIGGERS)
def test_triggers_refuse_a_viewer_and_an_unknown_deployment_and_change_nothing(
        site: tuple[Web, Path, Simulator], job: str) -> None:
    web, tmp, _ = site
    before = catalog_rows(tmp)
    refused = web.post_json(f"/api/v1/deployments/prod/{job}", token=VIEWER)
    assert refused.status == 403 and "viewer" in refused.json()["error"]
    assert web.post_json(f"/api/v1/deployments/prod/{job}", token=None).status == 401
    assert web.post_json(f"/api/v1/deployments/prod/{job}", token="wrong-T0ken-0000000000").status == 401
    missing = web.post_json(f"/api/v1/deployments/nowhere/{job}")
    assert missing.status == 404 and set(missing.json()) == {"error"}
    after = catalog_rows(tmp)
    assert after["runs"] == before["runs"] and after["restore_points"] == before["restore_points"]


def test_an_unknown_run_is_404_and_a_known_one_has_its_items(site: tuple[Web, Path, Simulator]) -> None:
    web, _, _ = site
    assert web.get("/api/v1/runs/run-backup-prod-19700101T000000000000Z").json() == {
        "error": "no run 'run-backup-prod-19700101T000000000000Z'"}
    assert web.get("/api/v1/runs/run-backup-prod-19700101T000000000000Z").status == 404
    newest = web.get("/api/v1/deployments/prod/runs?job=export&limit=1").json()[0]
    run = web.get(f"/api/v1/runs/{newest['id']}").json()
    assert run == newest and run["outcome"] == "completed" and run["actor"] == "token:ops-team"


@pytest.mark.parametrize(("query", "status", "says"), [
    ("failed=cn-nowhere", 422, "cn-nowhere: not a node of prod"),
    ("failed=management&down_since=yesterday", 422, "down_since"),
    ("failed=" + "x" * 300, 422, "cannot be found: the inventory"),
])
def test_a_failure_naming_no_known_node_is_refused(site: tuple[Web, Path, Simulator], query: str,
                                                  status: int, says: str) -> None:
    web, tmp, _ = site
    before = catalog_rows(tmp)
    for what in ("plan", "evidence"):
        answer = web.get(f"/api/v1/deployments/prod/{what}?{query}&probe=false", token=VIEWER)
        assert answer.status == status, answer.text
        assert set(answer.json()) == {"error"}
        assert_no_leak(answer.text)
    assert catalog_rows(tmp)["runs"] == before["runs"]


@pytest.mark.parametrize(("path", "fix"), [
    ("/api/v1/deployments/prod/restore-points?kind=everything", "kind"),
    ("/api/v1/deployments/prod/restore-points?limit=0", "limit"),
    ("/api/v1/deployments/prod/restore-points?limit=lots", "limit"),
    ("/api/v1/deployments/prod/runs?limit=100000", "limit"),
    ("/api/v1/deployments/prod/plan?probe=perhaps", "probe"),
])
def test_bad_parameters_are_422_naming_them(site: tuple[Web, Path, Simulator], path: str, fix: str) -> None:
    web, _, _ = site
    answer = web.get(path, token=VIEWER)
    assert answer.status == 422 and fix in answer.json()["error"], answer.text


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b"{not json", {}, 400),
    (b'{"options": {"full": true}}', {}, 422),
    (b"[1, 2]", {}, 422),
    (b"x" * (64 * 1024 + 1), {}, 413),
    (b'{"a": "' + b"y" * 70_000 + b'"}', {"Content-Type": "application/json"}, 413),
])
def test_a_malformed_or_huge_body_is_refused_and_nothing_runs(
        site: tuple[Web, Path, Simulator], body: bytes, headers: dict[str, str], status: int) -> None:
    web, tmp, _ = site
    before = catalog_rows(tmp)
    answer = web.post_json("/api/v1/deployments/prod/backup", raw=body, headers=headers)
    assert answer.status == status, answer.text
    assert set(answer.json()) == {"error"}
    assert_no_leak(answer.text)
    time.sleep(0.3)
    assert catalog_rows(tmp)["runs"] == before["runs"]


def test_a_chunked_body_over_the_limit_is_413(site: tuple[Web, Path, Simulator]) -> None:
    import http.client

    web, tmp, _ = site
    before = catalog_rows(tmp)
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        conn.putrequest("POST", "/api/v1/deployments/prod/backup")
        conn.putheader("Authorization", f"Bearer {OPERATOR}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"{" + b" " * 16_000
        for _ in range(6):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        assert resp.status == 413, resp.read()
    finally:
        conn.close()
    assert catalog_rows(tmp)["runs"] == before["runs"]


def test_a_trigger_is_queued_with_its_run_followed_and_recorded_with_the_token(
        site: tuple[Web, Path, Simulator]) -> None:
    web, _tmp, _ = site
    points = len(web.get("/api/v1/deployments/prod/restore-points?kind=config-backup").json())
    accepted = web.post_json("/api/v1/deployments/prod/backup", raw=b"")
    assert accepted.status == 202 and set(accepted.json()) == {"run_id"}
    run_id = accepted.json()["run_id"]
    assert accepted.headers["location"] == f"/api/v1/runs/{run_id}"
    # The row exists as soon as the 202 is answered.
    assert web.get(f"/api/v1/runs/{run_id}").status == 200
    run = wait_run(web, run_id)
    assert run["outcome"] == "completed" and run["actor"] == "token:ops-team" and run["job"] == "backup"
    assert len(web.get("/api/v1/deployments/prod/restore-points?kind=config-backup").json()) == points + 1
    ids = [r["id"] for r in web.get("/api/v1/deployments/prod/runs?job=backup").json()]
    assert ids.count(run_id) == 1, "the job took the trigger's row over, it made no second one"


def test_a_checkpoint_trigger_runs_with_its_defaults(site: tuple[Web, Path, Simulator]) -> None:
    web, _, _ = site
    accepted = web.post_json("/api/v1/deployments/prod/checkpoint")
    assert accepted.status == 202
    run = wait_run(web, accepted.json()["run_id"])
    assert run["job"] == "checkpoint" and run["outcome"] == "completed", run
    assert run["actor"] == "token:ops-team" and run["summary"]["checkpoint"]["ready"] is True
    assert web.get("/api/v1/deployments/prod/restore-points?kind=checkpoint&limit=1").json()


def test_a_second_trigger_while_one_runs_is_409_with_the_running_id(tmp_path: Path,
                                                                    daemons: list[Daemon]) -> None:
    with Simulator(SimOptions(rooms=5, conferencing_nodes=1, password=PASSWORD,
                              backup_request_seconds=3)) as slow:
        web = start(tmp_path, slow.url, daemons)
        first = web.post_json("/api/v1/deployments/prod/backup")
        assert first.status == 202
        run_id = first.json()["run_id"]
        for job in TRIGGERS:
            busy = web.post_json(f"/api/v1/deployments/prod/{job}")
            assert busy.status == 409 and busy.json()["run_id"] == run_id, busy.text
        running = web.get(f"/api/v1/runs/{run_id}").json()
        assert running["outcome"] is None and running["finished_at"] is None
        assert wait_run(web, run_id)["outcome"] == "completed"
        again = web.post_json("/api/v1/deployments/prod/export")
        assert again.status == 202 and again.json()["run_id"] != run_id
        assert wait_run(web, again.json()["run_id"])["outcome"] == "completed"
        assert web.daemon.stop() == 0
    jobs = [(r[2], r[-1]) for r in catalog_rows(tmp_path)["runs"]]
    assert sorted(jobs) == [("backup", "token:ops-team"), ("export", "token:ops-team")]
    assert_no_leak(web.daemon.stderr())


def test_schedule_and_cli_runs_say_who_started_them(tmp_path: Path, daemons: list[Daemon],
                                                   sim: Simulator, agent: Any) -> None:
    import getpass
    import json

    web = start(tmp_path, sim.url, daemons, schedule={"watch": "@every 1s"})
    deadline = time.monotonic() + 20
    while not web.get("/api/v1/deployments/prod/runs?job=watch").json():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert web.get("/api/v1/deployments/prod/runs?job=watch").json()[0]["actor"] == "schedule"
    code, out, err = agent("--config", str(tmp_path / "agent.toml"), "export", "--json")
    assert code == 0, err
    user = getpass.getuser()
    assert json.loads(out)["actor"] in (f"cli:{user}", "cli")
    [export] = web.get("/api/v1/deployments/prod/runs?job=export").json()
    assert export["actor"] == json.loads(out)["actor"]


def test_a_trigger_that_cannot_start_ends_failed_with_the_reason(tmp_path: Path, daemons: list[Daemon],
                                                                 sim: Simulator) -> None:
    web = start(tmp_path, sim.url, daemons)
    (tmp_path / "pw").unlink()  # the deployment's password file is gone: the run is refused
    accepted = web.post_json("/api/v1/deployments/prod/backup")
    assert accepted.status == 202
    run = wait_run(web, accepted.json()["run_id"])
    assert run["outcome"] == "failed" and run["actor"] == "token:ops-team"
    [(item, reason)] = [(i["item"], i["reason"]) for i in run["items"]]
    assert item == "backup" and "pw" in reason, reason
    assert [r["id"] for r in web.get("/api/v1/deployments/prod/runs").json()] == [run["id"]]
    assert web.post_json("/api/v1/deployments/prod/backup").status == 202, "not left busy"
    assert_no_leak(web.daemon.stderr())


def test_a_command_line_run_holding_the_deployment_is_409_with_its_run(tmp_path: Path, daemons: list[Daemon],
                                                                       sim: Simulator) -> None:
    from backup_agent import config as config_mod
    from backup_agent.catalog.actor import started_by
    from backup_agent.jobs.env import Env

    web = start(tmp_path, sim.url, daemons)
    env = Env.open(config_mod.load(tmp_path / "agent.toml"))
    try:
        with env.lock("run-prod", "backup"), started_by("cli:someone"):
            cli_run = env.catalog.start_run("prod", "backup", env.clock())
            for job in TRIGGERS:
                busy = web.post_json(f"/api/v1/deployments/prod/{job}")
                assert busy.status == 409 and busy.json()["run_id"] == cli_run.id, busy.text
            assert web.get(f"/api/v1/runs/{cli_run.id}").json()["actor"] == "cli:someone"
            cli_run.item("backup", "ok")
            env.catalog.finish_run(cli_run, env.clock())
        with env.lock("restore-prod", "restore"):
            assert web.post_json("/api/v1/deployments/prod/export").status == 409
    finally:
        env.close()
    accepted = web.post_json("/api/v1/deployments/prod/backup")
    assert accepted.status == 202 and wait_run(web, accepted.json()["run_id"])["outcome"] == "completed"


def test_a_lost_management_node_shows_in_the_status_with_its_clock_and_alert(tmp_path: Path,
                                                                            daemons: list[Daemon]) -> None:
    with Simulator(SimOptions(rooms=5, conferencing_nodes=2, password=PASSWORD,
                              backup_request_seconds=0.05)) as lost:
        web = start(tmp_path, lost.url, daemons, schedule={"watch": "@every 1s"})
        accepted = web.post_json("/api/v1/deployments/prod/backup")
        assert wait_run(web, accepted.json()["run_id"])["outcome"] == "completed"
        assert web.get("/api/v1/deployments/prod/status").json()["management_node"] == "up"
        lost.stop()
        deadline = time.monotonic() + 60
        while (status := web.get("/api/v1/status").json())["deployments"][0]["management_node"] != "down":
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        prod = status["deployments"][0]
        assert prod["health"] == "down" and prod["autonomy"]["applies"] is True
        assert prod["autonomy"]["deadline"] and prod["autonomy"]["remaining_hours"] > 0
        assert "the watch of" in prod["management_probe"]
        while {"deployment": "prod", "key": "autonomy", "state": "started"} not in status["alerts"]:
            assert time.monotonic() < deadline, status["alerts"]
            time.sleep(0.2)
            status = web.get("/api/v1/status").json()


def test_reloads_while_the_console_reads_lose_no_request(tmp_path: Path, daemons: list[Daemon],
                                                         sim: Simulator) -> None:
    import signal
    import threading

    web = start(tmp_path, sim.url, daemons)
    answers: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for path in ("/api/v1/status", "/api/v1/deployments/prod/runs",
                         "/api/v1/deployments/prod/restore-points"):
                answers.append(web.get(path, token=VIEWER).status)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for n in range(5):
            web.daemon.signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while web.daemon.stderr().count("configuration reloaded") <= n:
                assert time.monotonic() < deadline, web.daemon.stderr()
                time.sleep(0.05)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert len(answers) > 30 and set(answers) == {200}, sorted(set(answers))
    assert_no_leak(web.daemon.stderr())
