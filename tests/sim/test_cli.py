"""``backup-agent sim`` as a separate process: starts, prints how to connect, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from backup_agent.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "backup_agent.cli.main", "sim", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert proc.stdout is not None
    lines = []
    for _ in range(6 if "--tls" in args else 5):
        lines.append(proc.stdout.readline())
    text = "".join(lines)
    match = re.search(r"at (https?://127\.0\.0\.1:\d+)", text)
    if not match:
        proc.kill()
        raise AssertionError(f"no URL printed: {text!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, match.group(1), text


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)


def test_sim_serves_until_sigterm_with_the_documented_lab_credentials() -> None:
    proc, url, text = _start("--rooms", "30", "--aliases-per-room", "3", "--nodes", "2", "--seed", "5",
                             "--download-mode", "request", "--backup-status", "200",
                             "--snapshot-seconds", "0.25", "--latency-ms", "1")
    try:
        assert "admin / sim-admin" in text and "30 rooms, 90 aliases, 2 Conferencing Nodes" in text
        body = requests.get(url + "/api/admin/configuration/v1/conference/", auth=("admin", "sim-admin"),
                            timeout=10).json()
        assert body["meta"]["total_count"] == 30
        answer = requests.post(url + "/api/admin/command/v1/platform/backup_create/",
                               auth=("admin", "sim-admin"), json={"passphrase": "x"}, timeout=30)
        assert answer.status_code == 200
        state = requests.get(url + "/_sim/state", auth=("admin", "sim-admin"), timeout=10).json()
        assert state["options"] == {"latency_ms": 1.0, "snapshot_seconds": 0.25, "backup_request_seconds": 0.2}
        assert state["counts"]["system_backup"] == 1
    finally:
        assert _stop(proc) == 0


def test_password_file_is_used_and_not_printed(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("Lab-Pass-42\n")
    proc, url, text = _start("--rooms", "3", "--password-file", str(secret))
    try:
        assert "Lab-Pass-42" not in text and "--password-file" in text
        ok = requests.get(url + "/_sim/state", auth=("admin", "Lab-Pass-42"), timeout=10)
        assert ok.status_code == 200
        assert requests.get(url + "/_sim/state", auth=("admin", "sim-admin"), timeout=10).status_code == 401
    finally:
        _stop(proc)


def test_password_from_environment() -> None:
    proc, url, text = _start("--rooms", "3", env={"BACKUP_AGENT_SIM_PASSWORD": "Env-Pass-7"})
    try:
        assert "Env-Pass-7" not in text
        assert requests.get(url + "/_sim/state", auth=("admin", "Env-Pass-7"), timeout=10).status_code == 200
    finally:
        _stop(proc)


@pytest.mark.parametrize("args", [["--backup-status", "201"], ["--download-mode", "ftp"],
                                  ["--rooms", "many"]])
def test_bad_arguments_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sim", *args])
    assert exc.value.code == 2


def test_bad_values_and_missing_password_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--rooms", "-5", "--port", "0"]) == 2
    assert "rooms" in capsys.readouterr().err
    assert main(["sim", "--password-file", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "password-file" in capsys.readouterr().err
    (tmp_path / "empty").write_text("")
    assert main(["sim", "--password-file", str(tmp_path / "empty"), "--port", "0"]) == 2


def test_port_in_use_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["sim", "--port", str(port), "--rooms", "1"]) == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "--port" in err and "Traceback" not in err


def test_oauth_client_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--port", "0", "--oauth-client", "no-equals-sign"]) == 2
    assert main(["sim", "--port", "0", "--oauth-client", f"agent={tmp_path / 'missing.pem'}"]) == 2
    (tmp_path / "bad.pem").write_text("not a key")
    assert main(["sim", "--port", "0", "--oauth-client", f"agent={tmp_path / 'bad.pem'}"]) == 2
    assert "oauth-client" in capsys.readouterr().err


def test_tls_prints_the_ca_bundle() -> None:
    proc, url, text = _start("--rooms", "2", "--tls")
    try:
        assert url.startswith("https://127.0.0.1:")
        ca = re.search(r"ca_bundle:\s+(\S+)", text)
        assert ca, text
        answer = requests.get(url + "/_sim/state", auth=("admin", "sim-admin"), verify=ca.group(1), timeout=10)
        assert answer.status_code == 200
    finally:
        assert _stop(proc) == 0


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to read peak RSS")
def test_a_big_backup_is_written_and_served_without_holding_it_in_memory() -> None:
    size = 256 * 1024 * 1024
    proc, url, _ = _start("--rooms", "10", "--backup-padding-bytes", str(size))
    try:
        auth = ("admin", "sim-admin")
        requests.post(url + "/api/admin/command/v1/platform/backup_create/", auth=auth,
                      json={"passphrase": "x"}, timeout=120).raise_for_status()
        entry = requests.get(url + "/api/admin/configuration/v1/system_backup/", auth=auth,
                             timeout=10).json()["objects"][0]
        total = 0
        with requests.get(url + entry["resource_uri"], auth=auth, stream=True, timeout=60) as answer:
            for chunk in answer.iter_content(1024 * 1024):
                total += len(chunk)
        assert total == entry["size"] > size
        assert _peak_rss_mb(proc.pid) < 120, "the simulator must stream backups, not hold them"
    finally:
        _stop(proc)


def test_sim_release_option_picks_the_older_profile() -> None:
    proc, url, text = _start("--rooms", "3", "--nodes", "1", "--release", "v24")
    try:
        assert "version 24 (55691.0.0), release profile v24" in text
        worker = requests.get(url + "/api/admin/status/v1/worker_vm/", auth=("admin", "sim-admin"),
                              timeout=10).json()["objects"][0]
        assert "sync_status" not in worker and worker["last_reported"]
        assert worker["version"] == "24 (55691.0.0)"
    finally:
        assert _stop(proc) == 0


def test_sim_refuses_an_unknown_release(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "--release", "v99"])
    assert exit_info.value.code == 2 and "invalid choice: 'v99'" in capsys.readouterr().err
