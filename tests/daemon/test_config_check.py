"""``config check`` and ``run`` on bad input: exit 2, one line naming the key; overrides; masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.daemon.conftest import daemon_config
from tests.jobs.conftest import PASSPHRASE, PASSWORD, Runner, write_config

URL = "http://127.0.0.1:9"  # nothing is contacted by config check or a refused run


def test_config_check_prints_the_effective_configuration_with_defaults_and_masks(
        agent: Runner, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, URL)
    cfg.write_text('[alerts]\nurls = ["json://hooks.example.com/T0K3N-secret", "mailto://u:pw-Secret9@example.com"]\n'
                   + cfg.read_text())
    code, out, err = agent("--config", str(cfg), "config", "check", "--json")
    assert code == 0, err
    data = json.loads(out)
    [dep] = data["deployments"]
    assert dep["schedule"]["backup"] == {"schedule": "15 1 * * *", "from": "default",
                                         "next_run": dep["schedule"]["backup"]["next_run"]}
    assert dep["schedule"]["backup"]["next_run"].endswith(":15:00Z")
    assert dep["schedule"]["watch"]["schedule"] == "@every 5m"
    assert dep["schedule"]["retention"]["next_run"] is None, "nothing to prune: not scheduled"
    assert data["retention_configured"] is False
    assert data["alerts"]["urls"] == ["json://(masked)", "mailto://(masked)"]
    assert dep["password"].startswith("file ") and dep["password"].endswith("(masked)")
    assert data["daemon"] == {"listen": "127.0.0.1:9464", "grace_seconds": 60.0, "auth": "token",
                              "tls": False, "tokens": []}
    code, text, _ = agent("--config", str(cfg), "config", "check")
    assert "retention: no [retention] configured: nothing is pruned" in text
    for secret in ("T0K3N", "pw-Secret9", PASSWORD, PASSPHRASE):
        assert secret not in out and secret not in text


def test_environment_overrides_every_table_and_deployment_keys(
        agent: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = daemon_config(tmp_path, URL, tables="[retention]\nkeep_daily = 7\n")
    monkeypatch.setenv("BACKUP_AGENT_DAEMON_GRACE_SECONDS", "5")
    monkeypatch.setenv("BACKUP_AGENT_DAEMON_LISTEN", "0.0.0.0:9999")
    monkeypatch.setenv("BACKUP_AGENT_RETENTION_KEEP_DAILY", "3")
    monkeypatch.setenv("BACKUP_AGENT_DEPLOYMENTS_PROD_SCHEDULE_BACKUP", "@every 6h")
    monkeypatch.setenv("BACKUP_AGENT_DEPLOYMENTS_PROD_RETENTION_KEEP_LAST", "4")
    monkeypatch.setenv("BACKUP_AGENT_DEPLOYMENTS_PROD_TIMEOUT", "12")
    monkeypatch.setenv("BACKUP_AGENT_SIM_PASSWORD", "not-an-override")
    monkeypatch.setenv("BACKUP_AGENT_PROVIDERS_LAB_HV_URL", "http://10.0.0.9:8080")
    cfg.write_text(cfg.read_text() + '\n[providers.lab-hv]\ntype = "sim"\nurl = "http://h"\npassword_env = "X"\n')
    code, out, err = agent("--config", str(cfg), "config", "check", "--json")
    assert code == 0, err
    data = json.loads(out)
    [dep] = data["deployments"]
    assert data["daemon"] == {"listen": "0.0.0.0:9999", "grace_seconds": 5.0, "auth": "token",
                              "tls": False, "tokens": []}
    assert dep["schedule"]["backup"]["schedule"] == "@every 6h"
    assert dep["timeout"] == 12.0
    assert data["providers"]["lab-hv"]["url"] == "http://10.0.0.9:8080"
    assert dep["retention"]["room-export"] == {"rules": {"keep_last": 4}, "from": "deployments.prod.retention"}
    monkeypatch.delenv("BACKUP_AGENT_DEPLOYMENTS_PROD_RETENTION_KEEP_LAST")
    code, out, _ = agent("--config", str(cfg), "config", "check", "--json")
    assert json.loads(out)["deployments"][0]["retention"]["inventory"]["rules"] == {"keep_daily": 3}
    monkeypatch.setenv("BACKUP_AGENT_DAEMON_GRACE_SECONDS", "soon")
    code, _, err = agent("--config", str(cfg), "config", "check")
    assert code == 2 and "daemon.grace_seconds" in err


BAD = [
    ({"schedule": {"backup": "61 * * * *"}}, "deployments.prod.schedule.backup: '61 * * * *' is not a valid cron"),
    ({"schedule": {"backup": "* * *"}}, "deployments.prod.schedule.backup: '* * *' is not a 5-field cron"),
    ({"schedule": {"export": "@every 6 hours"}}, "deployments.prod.schedule.export: ' 6 hours' is not a duration"),
    ({"schedule": {"export": "@every 0s"}}, "deployments.prod.schedule.export: ' 0s' must be longer than zero"),
    ({"schedule": {"backups": "@every 1h"}}, "deployments.prod.schedule: unknown job 'backups'"),
    ({"tables": '[daemon]\nlisten = "localhost"\n'}, "daemon.listen: 'localhost' is not HOST:PORT"),
    ({"tables": "[daemon]\ngrace_seconds = -1\n"}, "daemon.grace_seconds: expected seconds"),
    ({"tables": '[daemon]\nlistn = "x"\n'}, "daemon: unknown key 'listn'"),
    ({"tables": '[alerts]\nurls = "json://x"\n'}, "alerts.urls: expected a list of apprise URLs"),
    ({"tables": '[alerts]\nstale_after = "soon"\n'}, "alerts.stale_after: 'soon' is not a duration"),
    ({"tables": '[alerts]\nurls_file = "/nonexistent/urls"\n'}, "alerts.urls_file: cannot read /nonexistent/urls"),
    ({"tables": "[retention]\n"}, "retention: an empty retention policy is refused"),
    ({"twice": True}, "deployments: 'prod' appears twice"),
    ({"tables": '[alerts]\nurls = ["json://ok.example.com/h", "nosuchsink://T0k3n@x"]\n'},
     "alerts.urls[1]: not an apprise URL it can send to (scheme 'nosuchsink'"),
]


@pytest.mark.parametrize(("case", "message"), BAD, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD)])
@pytest.mark.parametrize("command", [["config", "check"], ["run"]])
def test_configuration_errors_exit_2_with_one_line_naming_the_key(
        agent: Runner, tmp_path: Path, case: dict[str, object], message: str, command: list[str]) -> None:
    schedule = case.get("schedule")
    cfg = daemon_config(tmp_path, URL, schedule=schedule if isinstance(schedule, dict) else {"watch": "@every 1m"},
                        tables=str(case.get("tables", "")))
    if case.get("twice"):
        text = cfg.read_text()
        dep = text[text.index("[[deployments]]"):text.index("[deployments.schedule]")]
        cfg.write_text(text + "\n" + dep)
    code, out, err = agent("--config", str(cfg), *command)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "var" / "locks" / "daemon.lock").exists(), "nothing started"


def test_a_listen_address_in_use_exits_2_naming_the_key(agent: Runner, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = daemon_config(tmp_path, URL, tables=f'[daemon]\nlisten = "127.0.0.1:{port}"\n')
        code, _, err = agent("--config", str(cfg), "run")
    assert code == 2 and err.strip().count("\n") == 0
    assert f"daemon.listen: cannot listen on 127.0.0.1:{port}" in err


def test_alert_urls_from_a_secret_file(agent: Runner, tmp_path: Path) -> None:
    urls = tmp_path / "alert-urls"
    urls.write_text("# ops\njson://hooks.example.com/Hook-T0ken-77\n\nmailto://u:Mail-Pw-55@example.com\n")
    cfg = daemon_config(tmp_path, URL, tables=f'[alerts]\nurls_file = "{urls}"\n')
    code, out, err = agent("--config", str(cfg), "config", "check", "--json")
    assert code == 0, err
    assert json.loads(out)["alerts"]["urls"] == ["json://(masked)", "mailto://(masked)"]
    assert "Hook-T0ken-77" not in out and "Mail-Pw-55" not in out
    urls.write_text("not a url\n")
    code, _, err = agent("--config", str(cfg), "config", "check")
    assert code == 2 and "alerts.urls_file" in err and "not a url" not in err
