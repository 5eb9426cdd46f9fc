"""The demo's last act: ``backup-agent run`` for a few seconds of compressed time.

The daemon runs as a real subprocess (real signals, a real port) against the demo's simulator,
with schedules of seconds; the demo reads /readyz and /metrics, then stops it with SIGTERM.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO, TextIO

from backup_agent.errors import AgentError

SCHEDULE = """
[deployments.schedule]
backup = "@every 2s"
export = "@every 3s"
watch = "@every 1s"
retention = "@every 2s"
verify = "@every 3s"
audit = "@every 3s"
"""
# auth = "none": the demo's console on loopback without a token (a real one signs in with
# [[daemon.tokens]]; see docs/console.md).
TABLES = ('[daemon]\nlisten = "127.0.0.1:0"\ngrace_seconds = 5\nauth = "none"\n\n'
          '[retention]\nkeep_last = 3\n\n')


def daemon_config(text: str) -> str:
    """The demo's agent.toml with daemon, retention and (inside the deployment) schedule tables."""
    head, sep, rest = text.partition("[[deployments]]")
    body, nodes, tail = rest.partition("\n[[deployments.nodes]]")
    return TABLES + head + sep + body + SCHEDULE + nodes + tail


def show(cfg_path: Path, out: TextIO, seconds: float = 6.0) -> None:
    out.write(f"\nThe agent as a service: backup-agent run, {seconds:g} s with schedules of seconds\n")
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "backup_agent.cli.main", "--config",
                                 str(cfg_path), "run"], stdout=subprocess.DEVNULL, stderr=err)
        try:
            port = _port(err, proc)
            time.sleep(seconds)
            ready = _get(port, "/readyz")
            metrics = _get(port, "/metrics")
            console = _get(port, "/")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
    out.write(f"- /readyz: {ready.strip()}\n")
    for line in metrics.splitlines():
        if line.startswith(("backup_agent_runs_total", "backup_agent_restore_points{")):
            out.write(f"  {line}\n")
    cards = re.findall(r'data-deployment="([^"]*)"', console)
    out.write(f"- the web console at http://127.0.0.1:{port}/ showed {len(cards)} deployment "
              f"card(s){': ' + ', '.join(cards) if cards else ''} (Management Node, autonomy "
              "clock, newest restore points, last runs, the plan if the Management Node is lost; "
              "keep `backup-agent run` going and open it in a browser)\n")
    out.write(f"- SIGTERM: the daemon stopped, exit code {code}\n")


def _port(err: IO[bytes], proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        err.seek(0)
        text = err.read().decode(errors="replace")
        if m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", text):
            return int(m.group(1))
        if proc.poll() is not None:
            raise AgentError(f"the daemon exited {proc.returncode}: {text.strip()[-300:]}")
        time.sleep(0.05)
    raise AgentError("the daemon did not start listening")


def _get(port: int, path: str) -> str:
    try:
        # bandit B310: a fixed http://127.0.0.1 URL, the demo's own daemon
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:  # nosec B310
            return str(r.read().decode())
    except OSError as exc:
        return f"unanswered: {exc}"
