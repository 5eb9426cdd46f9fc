"""The command line as a whole: start-up cost, exit codes mapped in one place, no tracebacks."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from backup_agent import errors
from backup_agent.cli import main as cli_main

SDKS = ("boto3", "botocore", "azure", "google", "pyVmomi", "paramiko", "requests", "pyrage",
        "moto")


def test_help_imports_no_sdk() -> None:
    code = ("import sys; from backup_agent.cli.main import build_parser; build_parser(); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SDKS!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"--help imports {out.stdout.strip()}"


@pytest.mark.parametrize(("error", "code"), [
    (errors.UsageError, 2), (errors.ConfigError, 2), (errors.SecretError, 2),
    (errors.EvidenceError, 2), (errors.ApiError, 1), (errors.AuthError, 1),
    (errors.StoreError, 1), (errors.IntegrityError, 1), (errors.ProviderError, 1),
    (errors.NotReadyError, 4), (KeyboardInterrupt, 130), (RuntimeError, 1),
])
def test_errors_map_to_exit_codes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                  error: type[BaseException], code: int) -> None:
    def boom(args: argparse.Namespace, ctx: object) -> int:
        raise error("it broke: do this")

    parser = cli_main.build_parser()
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    parser.set_defaults(func=boom)
    assert cli_main.main([]) == code
    err = capsys.readouterr().err
    assert err.startswith("backup-agent: ") and err.count("\n") == 1 and "Traceback" not in err


def test_no_command_is_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main([]) == 2
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["no-such-command"])
    assert exc.value.code == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["demo", "--rooms", "-5"], "rooms must not be negative"),
    (["demo", "--rooms", "5", "--keep", "{file}"], "--keep"),
    (["sim", "--port", "99999"], "--port"),
])
def test_bad_demo_and_sim_arguments_are_usage_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], message: str) -> None:
    import tempfile

    (tmp_path / "file").write_text("in the way")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert cli_main.main([a.replace("{file}", str(tmp_path / "file")) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "internal error" not in err
    assert list(scratch.iterdir()) == [], "no temporary directory left behind"


def test_python_dash_m_backup_agent_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "backup_agent", "--version"], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("backup-agent ")


def test_one_v_is_debug_and_the_internal_error_trace_shows_with_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """"run with -v for details" must be true: -v alone shows the trace."""
    def boom(args: argparse.Namespace, ctx: object) -> int:
        raise RuntimeError("deep inside")

    parser = cli_main.build_parser()
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    parser.set_defaults(func=boom)
    assert cli_main.main([]) == 1
    err = capsys.readouterr().err
    assert "run with -v for details" in err and "Traceback" not in err
    assert cli_main.main(["-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: deep inside" in err
    import logging
    assert logging.getLogger("backup_agent").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING


@pytest.mark.parametrize("argv", [
    ["list", "--config", "{cfg}"], ["list", "-c", "{cfg}", "-v"], ["-v", "list", "--config", "{cfg}"],
    ["--config", "{cfg}", "list"], ["--json", "--config", "{cfg}", "list"],
    ["snapshot", "list", "--config", "{cfg}", "--json"],
])
def test_global_flags_before_or_after_the_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "var"}"\n[[deployments]]\nname = "p"\n'
                   'url = "http://127.0.0.1:9"\npassword_env = "T_UNUSED"\n')
    assert cli_main.main([a.replace("{cfg}", str(cfg)) for a in argv]) == 0
    out = capsys.readouterr().out
    if "--json" in argv:
        assert out.strip() == "[]"
    else:
        assert out.startswith("no restore points") or out.startswith("no snapshots")
    args = cli_main.parse_args(cli_main.build_parser(), ["-v", "list", "-c", str(cfg)])
    assert args.verbose == 1 and args.config == str(cfg)
    args = cli_main.parse_args(cli_main.build_parser(), ["-v", "snapshot", "list", "-v"])
    assert args.verbose == 2
