"""Defects 4, 20, 21: support bundles and runbooks written privately; numbers that make no sense."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from backup_agent.cli.main import main
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, Runner
from tests.planner.helpers import backup, days_before, evidence


def test_support_bundle_follows_no_planted_symlink(agent: Runner, cfg: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle.tgz"
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for name in (f".{out.name}.tmp", f".{out.name}.tmp.tmp", f"{out.name}.tmp"):
        (tmp_path / name).symlink_to(victim)
    code, _, err = agent("--config", str(cfg), "support-bundle", "--out", str(out))
    assert code == 0, err
    assert victim.read_text() == "precious", "a planted temporary name overwrote another file"
    assert out.stat().st_mode & 0o777 == 0o600 and not out.is_symlink()


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_support_bundle_refuses_a_special_file_as_out(agent: Runner, cfg: Path, tmp_path: Path,
                                                      kind: str) -> None:
    out = tmp_path / "special"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "directory":
        out.mkdir()
    else:  # a null device of the test's own: a failing fix must never replace /dev/null
        try:
            os.mknod(out, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root")
    code, _, err = agent("--config", str(cfg), "support-bundle", "--out", str(out))
    assert code == 2, err
    assert "not a regular file" in err and "internal error" not in err
    assert out.is_fifo() if kind == "fifo" else True, "the FIFO was replaced"
    assert out.is_char_device() if kind == "device" else True


def test_plan_markdown_is_private_under_umask_000(tmp_path: Path) -> None:
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence(points=[backup("b-1", days_before(1))])))
    out = tmp_path / "runbook.md"
    old = os.umask(0)
    try:
        assert main(["plan", "--evidence", str(path), "--markdown", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("hours", ["-5", "0", "nan", "1" * 5000])
def test_support_bundle_hours_must_be_positive(agent: Runner, cfg: Path, tmp_path: Path,
                                               hours: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(cfg), "support-bundle", "--out", str(tmp_path / "b.tgz"),
              "--hours", hours])
    assert exited.value.code == 2
    assert "--hours" in capsys.readouterr().err
    assert not (tmp_path / "b.tgz").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e400"])
def test_sim_latency_must_be_finite(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sim", "--port", "0", "--latency-ms", value])
    assert exited.value.code == 2 and "--latency-ms" in capsys.readouterr().err
    with pytest.raises(ValueError, match="finite"):
        SimOptions(latency_ms=float(value))


def test_sim_runtime_latency_must_be_finite(sim: Simulator) -> None:
    import requests
    auth = ("admin", PASSWORD)
    answer = requests.post(f"{sim.url}/_sim/options", data='{"latency_ms": NaN}', auth=auth,
                           timeout=10)
    assert answer.status_code == 400, answer.text
    state = requests.get(f"{sim.url}/_sim/state", auth=auth, timeout=10).json()
    assert state["options"]["latency_ms"] == 0
