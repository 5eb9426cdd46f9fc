"""``backup-agent plan``: evidence-file mode end to end, and the honest "not yet" of live mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from backup_agent.cli.main import main
from tests.planner.helpers import backup, days_before, evidence

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, doc: Any, name: str = "evidence.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "backup_agent.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_plan_evidence_json_needs_no_config(tmp_path: Path) -> None:
    path = write(tmp_path, evidence(points=[backup("b-1", days_before(1))]))
    result = run_cli("plan", "--evidence", str(path), "--json", cwd=tmp_path)  # no agent.toml here
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["deployment", "priority", "autonomy", "paths", "notes"]
    assert list(data["autonomy"]) == ["applies", "down_since", "deadline", "remaining_hours", "level"]
    assert [p["kind"] for p in data["paths"]] == ["restore-backup", "rebuild"]
    assert data["autonomy"]["deadline"] == "2026-12-04T08:00:00Z"


def test_plan_writes_markdown_and_prints_the_runbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, evidence(points=[backup("b-1", days_before(1))]))
    out = tmp_path / "runbook.md"
    assert main(["plan", "--evidence", str(path), "--markdown", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text().startswith("**Autonomy deadline 2026-12-04 08:00 UTC")
    assert printed == out.read_text()


@pytest.mark.parametrize(("content", "message"), [
    ('{"deployment": "prod"', "not JSON"),
    ("[1, 2]", "evidence must be a JSON object"),
    ({**evidence(), "now": "2026-11-26T10:00:00"}, "now: no timezone"),
    (evidence(points=[{"kind": "tarball", "id": "x", "taken_at": "2026-11-19T01:02:00Z"}]),
     "restore_points[0].kind: unknown value"),
])
def test_bad_evidence_exits_2_with_one_line(tmp_path: Path, content: Any, message: str) -> None:
    result = run_cli("plan", "--evidence", str(write(tmp_path, content)), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_evidence_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--evidence", str(tmp_path / "nope.json")]) == 2
    assert "no such evidence file" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["plan", "--evidence", "x.json", "--failed", "management"],
    ["plan", "--deployment", "prod", "--failed", "management", "--down-since", "2026-11-20 08:00"],
])
def test_usage_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("backup-agent: ")


def test_live_mode_hands_its_arguments_to_build_evidence(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    """The CLI parses; the service layer builds the evidence (here a stand-in for it)."""
    from backup_agent.service import evidence as service_evidence

    calls: list[tuple[Any, ...]] = []

    def build_evidence(env: Any, deployment: str, failed: list[str], down_since: datetime | None) -> dict[str, Any]:
        calls.append((deployment, failed, down_since))
        return evidence(down_since=down_since)

    monkeypatch.setattr(service_evidence, "build_evidence", build_evidence)
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "var"}"\n[[deployments]]\nname = "prod"\n'
                   'url = "https://127.0.0.1:9"\npassword_env = "T_UNUSED"\n')
    assert main(["--config", str(cfg), "plan", "-d", "prod", "--failed", "management", "--failed",
                 "cn-osl-1", "--down-since", "2026-11-20T08:00:00Z", "--json"]) == 0
    assert calls == [("prod", ["management", "cn-osl-1"], days_before(0))]
    assert json.loads(capsys.readouterr().out)["autonomy"]["level"] == "warning"
