"""Authentication through real HTTP: bearer tokens, the console's session, CSRF, expiry,
``auth = "none"``, reloads, and every bad ``[[daemon.tokens]]`` entry refused at load."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from backup_agent.sim import Simulator
from tests.daemon.conftest import Daemon
from tests.web.apikit import (
    OPERATOR,
    VIEWER,
    Web,
    assert_no_leak,
    catalog_rows,
    start,
    token_tables,
    wait_run,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def signed_in(web: Web, token: str = OPERATOR) -> tuple[str, str]:
    """(session cookie, CSRF token) of a fresh sign-in."""
    answer = web.signin(token)
    assert answer.status == 303, answer.text
    cookie = answer.cookies["backup_agent_session"].split(";")[0]
    csrf = web.get("/api/v1/session", token=None, cookie=cookie).json()["csrf_token"]
    return cookie, csrf


def test_signing_in_opens_a_strict_http_only_session(sim: Simulator, tmp_path: Path,
                                                     daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    answer = web.signin(OPERATOR, "/deployments/prod")
    assert answer.status == 303 and answer.headers["location"] == "/deployments/prod"
    raw = answer.headers["set-cookie"]
    attrs = {a.strip().split("=")[0].lower() for a in raw.split(";")[1:]}
    assert {"httponly", "path", "max-age"} <= attrs and "secure" not in attrs
    assert "samesite=strict" in raw.lower()
    cookie = answer.cookies["backup_agent_session"].split(";")[0]
    assert OPERATOR not in raw and len(cookie) >= 40
    me = web.get("/api/v1/session", token=None, cookie=cookie).json()
    assert me["name"] == "ops-team" and me["via"] == "session" and len(me["csrf_token"]) >= 40
    assert web.get("/", token=None, cookie=cookie).status == 200
    assert web.get("/api/v1/deployments", token=None, cookie=cookie).status == 200
    assert_no_leak(web.daemon.stderr())


def test_behind_an_https_proxy_the_cookie_is_secure(sim: Simulator, tmp_path: Path,
                                                    daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons, daemon_keys="secure_cookie = true\n")
    answer = web.signin(VIEWER)
    assert answer.status == 303 and "; secure" in answer.headers["set-cookie"].lower()


def test_a_wrong_token_at_sign_in_opens_nothing(sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    for token in ("wrong-T0ken-xxxxxxxxxxxx", "", VIEWER[:-1]):
        answer = web.signin(token)
        assert answer.status == 401 and "set-cookie" not in answer.headers
        assert "<form" in answer.text and "not valid" in answer.text and "prod" not in answer.text
        if token:
            assert token not in answer.text
    # An unknown or forged session id is no session.
    assert web.get("/api/v1/deployments", token=None, cookie="forged-" + "a" * 40).status == 401
    page = web.get("/", token=None, cookie="forged")
    assert page.status == 303 and page.headers["location"] == "/signin?next=/"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", ""])
def test_sign_in_never_redirects_off_the_site(sim: Simulator, tmp_path: Path, daemons: list[Daemon],
                                              target: str) -> None:
    web = start(tmp_path, sim.url, daemons)
    assert web.signin(VIEWER, target).headers["location"] == "/"


def test_a_session_trigger_needs_the_csrf_token_and_a_forged_one_changes_nothing(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    cookie, csrf = signed_in(web)
    before = catalog_rows(tmp_path)
    for headers in ({}, {"X-CSRF-Token": "forged-" + csrf[7:]}, {"X-CSRF-Token": ""}):
        refused = web.post_json("/api/v1/deployments/prod/backup", token=None, cookie=cookie, headers=headers)
        assert refused.status == 403 and "CSRF" in refused.json()["error"], refused.text
    time.sleep(0.3)
    assert catalog_rows(tmp_path) == before
    # A viewer's session with its right CSRF token is still a viewer.
    viewer_cookie, viewer_csrf = signed_in(web, VIEWER)
    refused = web.post_json("/api/v1/deployments/prod/backup", token=None, cookie=viewer_cookie,
                            headers={"X-CSRF-Token": viewer_csrf})
    assert refused.status == 403 and "viewer" in refused.json()["error"]
    accepted = web.post_json("/api/v1/deployments/prod/backup", token=None, cookie=cookie,
                             headers={"X-CSRF-Token": csrf})
    assert accepted.status == 202, accepted.text
    assert wait_run(web, accepted.json()["run_id"])["actor"] == "token:ops-team"


def test_signing_out_needs_the_csrf_token_and_ends_the_session(sim: Simulator, tmp_path: Path,
                                                               daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    cookie, csrf = signed_in(web)
    forged = web.call("POST", "/signout", body=urlencode({"csrf_token": "forged"}).encode(), headers=FORM,
                      cookie=cookie)
    assert forged.status == 403 and "CSRF" in forged.json()["error"]
    assert web.get("/api/v1/session", token=None, cookie=cookie).status == 200, "still signed in"
    out = web.call("POST", "/signout", body=urlencode({"csrf_token": csrf}).encode(), headers=FORM,
                   cookie=cookie)
    assert out.status == 303 and out.headers["location"] == "/signin"
    assert 'backup_agent_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    gone = web.get("/api/v1/deployments", token=None, cookie=cookie)
    assert gone.status == 401 and "sign in again" in gone.json()["error"]
    assert web.get("/", token=None, cookie=cookie).status == 303


def test_an_idle_or_old_session_expires(sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons, daemon_keys='session_idle = "2s"\nsession_max = "4s"\n')
    idle, _ = signed_in(web)
    busy, _ = signed_in(web)
    assert web.get("/api/v1/deployments", token=None, cookie=idle).status == 200
    for _ in range(5):  # the busy one is used every second: only its absolute limit ends it
        time.sleep(0.7)
        assert web.get("/api/v1/deployments", token=None, cookie=busy).status == 200
    expired = web.get("/api/v1/deployments", token=None, cookie=idle)
    assert expired.status == 401 and expired.json() == {"error": "the session expired or ended; sign in again"}
    page = web.get("/?kind=snapshot", token=None, cookie=idle)
    assert page.status == 303 and page.headers["location"] == "/signin?next=/%3Fkind%3Dsnapshot"
    time.sleep(1.0)
    assert web.get("/api/v1/deployments", token=None, cookie=busy).status == 401


def test_bearer_tokens_are_accepted_by_pages_and_bad_headers_refused(sim: Simulator, tmp_path: Path,
                                                                     daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    assert web.get("/", token=VIEWER).status == 200
    wrong = web.get("/", token="wrong-T0ken-xxxxxxxxxxxx")
    assert wrong.status == 401 and wrong.json() == {"error": "wrong token"}, "a script gets 401, not a page"
    for header in ("Basic b3BzOnB3", "Bearer", "Bearer  ", OPERATOR):
        answer = web.call("GET", "/api/v1/deployments", headers={"Authorization": header})
        assert answer.status == 401 and set(answer.json()) == {"error"}
        assert_no_leak(answer.text)
    # A wrong bearer is not rescued by a good session cookie.
    cookie, _ = signed_in(web)
    assert web.get("/api/v1/deployments", token="wrong-T0ken-xxxxxxxxxxxx", cookie=cookie).status == 401
    assert_no_leak(web.daemon.stderr())


def test_auth_none_on_loopback_serves_everyone_as_local_and_still_guards_cross_site_posts(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons, daemon_keys='auth = "none"\n', tokens="")
    assert web.get("/api/v1/deployments", token=None).status == 200
    assert web.get("/", token=None).status == 200
    me = web.get("/api/v1/session", token=None).json()
    assert me["name"] == "local" and me["role"] == "operator" and me["via"] == "none"
    form = web.call("POST", "/api/v1/deployments/prod/backup", body=b"{}",
                    headers={"Content-Type": "text/plain"})
    assert form.status == 415, "a cross-site form cannot send JSON, so it cannot trigger"
    accepted = web.post_json("/api/v1/deployments/prod/backup", token=None)
    assert accepted.status == 202
    assert wait_run(web, accepted.json()["run_id"])["actor"] == "web:local"


def test_a_reload_that_drops_a_token_ends_its_bearer_and_its_sessions(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    cookie, _ = signed_in(web, VIEWER)
    cfg = tmp_path / "agent.toml"
    text = cfg.read_text()
    head, _, rest = text.partition('[[daemon.tokens]]\nname = "watchers"')
    cfg.write_text(head + rest.split("\n", 3)[-1])
    assert "watchers" not in cfg.read_text()
    web.daemon.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while web.get("/api/v1/deployments", token=VIEWER).status != 401:
        assert time.monotonic() < deadline, web.daemon.stderr()
        time.sleep(0.1)
    assert web.get("/api/v1/deployments", token=None, cookie=cookie).status == 401
    assert web.get("/api/v1/deployments", token=OPERATOR).status == 200


BAD_TOKENS: list[tuple[str, str]] = [
    ('[[daemon.tokens]]\nname = "a"\nrole = "admin"\ntoken_file = "token-ops"\n', "daemon.tokens[0].role"),
    ('[[daemon.tokens]]\nname = "a"\nrole = "viewer"\ntoken_file = "missing"\n', "daemon.tokens[0].token_file"),
    ('[[daemon.tokens]]\nname = "a"\nrole = "viewer"\ntoken_file = "empty"\n', "is empty"),
    ('[[daemon.tokens]]\nname = "a"\nrole = "viewer"\ntoken_file = "short"\n', "shorter than 16"),
    ('[[daemon.tokens]]\nname = "a"\nrole = "viewer"\n', "daemon.tokens[0].token_file: required"),
    ('[[daemon.tokens]]\nname = "a"\nrole = "viewer"\ntoken_file = "token-ops"\ncolour = "red"\n',
     "unknown key 'colour'"),
    ('[[daemon.tokens]]\nname = "a"\nrole = "viewer"\ntoken_file = "token-ops"\n'
     '[[daemon.tokens]]\nname = "a"\nrole = "operator"\ntoken_file = "token-ops"\n', "daemon.tokens[1].name"),
    ('[[daemon.tokens]]\nrole = "viewer"\ntoken_file = "token-ops"\n', "daemon.tokens[0].name"),
    ('[daemon]\nauth = "none"\nlisten = "0.0.0.0:9464"\n', "only on a loopback"),
    ('[daemon]\nauth = "open"\n', "daemon.auth"),
    ('[daemon]\ntls_cert_file = "cert.pem"\n', "give both or neither"),
    ('[daemon]\ntls_cert_file = "token-ops"\ntls_key_file = "token-ops"\n', "not a usable certificate"),
    ('[daemon]\ntls_cert_file = "nope.pem"\ntls_key_file = "nope.key"\n', "does not exist"),
    ('[daemon]\nsession_idle = "forever"\n', "daemon.session_idle"),
    ('[daemon]\nsecure_cookie = "yes"\n', "daemon.secure_cookie"),
]


@pytest.mark.parametrize(("tables", "says"), BAD_TOKENS)
def test_a_bad_web_setting_is_one_line_at_load(agent: Any, tmp_path: Path, tables: str, says: str) -> None:
    from tests.jobs.conftest import write_config

    (tmp_path / "token-ops").write_text(OPERATOR + "\n")
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "short").write_text("abc\n")
    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    cfg.write_text(tables + "\n" + cfg.read_text())
    code, out, err = agent("--config", str(cfg), "config", "check")
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and says in err, err
    assert OPERATOR not in err and "Traceback" not in err


def test_config_check_names_tokens_and_roles_never_their_values(agent: Any, tmp_path: Path) -> None:
    import json

    from tests.jobs.conftest import write_config

    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    cfg.write_text(token_tables(tmp_path) + "\n" + cfg.read_text())
    code, out, err = agent("--config", str(cfg), "config", "check", "--json")
    assert code == 0, err
    assert json.loads(out)["daemon"]["tokens"] == [{"name": "ops-team", "role": "operator"},
                                                   {"name": "watchers", "role": "viewer"}]
    code, text, _ = agent("--config", str(cfg), "config", "check")
    assert "daemon.tokens: ops-team (operator), watchers (viewer)" in text
    for secret in (OPERATOR, VIEWER):
        assert secret not in out + text
