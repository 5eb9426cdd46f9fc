"""The daemon calls the same code as the CLI, never the CLI; it reaches the service layer and
the jobs through one adapter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import backup_agent.daemon

DAEMON = Path(backup_agent.daemon.__file__).parent


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_the_daemon_never_imports_the_cli_and_only_its_adapter_imports_jobs() -> None:
    modules = sorted(DAEMON.glob("*.py"))
    assert len(modules) >= 9
    for path in modules:
        names = imports(path)
        assert not [n for n in names if n.startswith("backup_agent.cli")], path.name
        job_imports = {n for n in names if n.startswith(("backup_agent.jobs.", "backup_agent.service"))
                       and n != "backup_agent.jobs.env"}
        assert path.name == "jobs.py" or not job_imports, f"{path.name} imports {job_imports}"


def test_loading_agent_toml_pays_for_neither_apscheduler_nor_apprise() -> None:
    code = ("import sys, backup_agent.config, backup_agent.daemon.settings; "
            "print([m for m in ('apscheduler', 'apprise', 'prometheus_client') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
