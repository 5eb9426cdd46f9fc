"""Defects 12, 14, 24: malformed input is a usage error (exit 2, one line), never an internal one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSWORD, Runner, write_config
from tests.planner.helpers import backup, days_before, evidence


def one_usage_line(code: int, err: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("backup-agent:")]
    assert code == 2, err
    assert len(lines) == 1 and "internal error" not in err and "Traceback" not in err, err
    assert len(lines[0]) < 400, "a hostile input is quoted, not echoed whole"


BIG = "1" * 5000


@pytest.mark.parametrize(("line", "what"), [
    (f"timeout = {BIG}", "4300 digits"),
    ('password_file = "~nosuchuser-x/pw"', "cannot expand"),
    ('password_file = "a\\u0000b"', "NUL"),
    ('ca_bundle = "~nosuchuser-x/ca.pem"', "cannot expand"),
    ('name = "prod\\n"', "must be letters"),
    ('url = "https://[::1"', "not an http(s) URL"),
])
def test_bad_deployment_values(agent: Runner, sim: Simulator, tmp_path: Path, line: str,
                               what: str) -> None:
    cfg = write_config(tmp_path, sim.url)
    key = line.split(" = ")[0]
    text = "\n".join(x for x in cfg.read_text().splitlines() if not x.startswith(f"{key} = "))
    cfg.write_text(text + "\n" + line + "\n")
    code, _, err = agent("--config", str(cfg), "backup")
    one_usage_line(code, err)
    assert what in err


@pytest.mark.parametrize("table", ["storage = 5", "providers = 5", "deployments = 5",
                                   "retention = 5", "daemon = \"x\"", "alerts = []",
                                   "deployments = [1]"])
def test_top_level_tables_of_the_wrong_type(agent: Runner, sim: Simulator, tmp_path: Path,
                                            table: str) -> None:
    cfg = write_config(tmp_path, sim.url)
    key = table.split(" = ")[0]
    text = cfg.read_text()
    if key == "storage":
        text = text.split("\n", 2)[2]
    elif key == "deployments":
        text = text.split("[[deployments]]")[0]
    cfg.write_text(table + "\n" + text)
    one_usage_line(*agent("--config", str(cfg), "list")[::2])


def test_secret_file_that_never_ends(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, sim.url, password_file="/dev/zero")
    code, _, err = agent("--config", str(cfg), "backup")
    assert code != 0 and "internal error" not in err and "larger than" in err, err


@pytest.mark.parametrize("config", ["/dev/zero", "a\0b"])
def test_config_file_that_cannot_be_one(agent: Runner, config: str) -> None:
    one_usage_line(*agent("--config", config, "list")[::2])


def _evidence_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "evidence.json"
    path.write_text(text)
    return path


GOOD = json.dumps(evidence(points=[backup("b-1", days_before(1))]))


@pytest.mark.parametrize("text", [
    GOOD.replace('"deployment"', '"x": Infinity, "deployment"', 1),
    GOOD.replace('"deployment"', '"x": NaN, "deployment"', 1),
    GOOD.replace('"deployment"', f'"x": {BIG}, "deployment"', 1),
    "[" * 100_000 + "]" * 100_000,
    GOOD.replace("2026-11-26T10:00:00Z", "9999-12-31T23:59:59Z").replace(
        "2026-11-20T08:00:00Z", "9999-12-31T23:00:00Z"),
    GOOD.replace("2026-11-26T10:00:00Z", "0001-01-01T00:00:00Z"),
])
def test_evidence_that_is_not_usable(agent: Runner, tmp_path: Path, text: str) -> None:
    assert "2026-11-26T10:00:00Z" in GOOD and "2026-11-20T08:00:00Z" in GOOD
    one_usage_line(*agent("plan", "--evidence", str(_evidence_file(tmp_path, text)))[::2])


def test_evidence_file_that_never_ends(agent: Runner) -> None:
    one_usage_line(*agent("plan", "--evidence", "/dev/zero")[::2])


@pytest.mark.parametrize("url", ["https://[::1", "https://h:99999", "https:// h", "https://h\tx"])
def test_bad_target_url(agent: Runner, sim: Simulator, tmp_path: Path, url: str) -> None:
    cfg = write_config(tmp_path, sim.url)
    code, _, err = agent("--config", str(cfg), "restore", "--failed", "management", "--path",
                         "1", "--target-url", url, "--yes")
    one_usage_line(code, err)


def test_credentials_in_target_url_are_refused_and_never_shown(agent: Runner, sim: Simulator,
                                                               tmp_path: Path) -> None:
    cfg = write_config(tmp_path, sim.url)
    url = sim.url.replace("://", f"://admin:{PASSWORD}@")
    code, out, err = agent("--config", str(cfg), "restore", "--failed", "management", "--path",
                           "1", "--target-url", url, "--yes")
    one_usage_line(code, err)
    assert "credentials" in err and PASSWORD not in err + out
    code, out, _ = agent("--config", str(cfg), "restore", "--journal", "--json")
    assert PASSWORD not in out
    catalog = b"".join(p.read_bytes() for p in (tmp_path / "var").rglob("*") if p.is_file())
    assert PASSWORD.encode() not in catalog
