"""The planner and retention stay pure: the standard library, their own modules,
backup_agent.errors and timefmt (retention also backup_agent.duration, itself pure)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import backup_agent.planner
import backup_agent.retention

PLANNER = Path(backup_agent.planner.__file__).parent
RETENTION = Path(backup_agent.retention.__file__).parent
DURATION = PLANNER.parent / "duration.py"
ALLOWED_PREFIXES = ("backup_agent.planner", "backup_agent.errors", "backup_agent.timefmt")
RETENTION_ALLOWED = ("backup_agent.retention", "backup_agent.errors", "backup_agent.duration",
                     "backup_agent.timefmt")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_planner_imports_only_stdlib_and_errors() -> None:
    modules = sorted(PLANNER.glob("*.py"))
    assert len(modules) >= 6
    for path in modules:
        for name in imported_modules(path):
            top = name.split(".")[0]
            ok = top in sys.stdlib_module_names or name.startswith(ALLOWED_PREFIXES)
            assert ok, f"{path.name} imports {name}"


def test_retention_imports_only_stdlib_errors_and_duration() -> None:
    modules = [*sorted(RETENTION.glob("*.py")), DURATION]
    assert len(modules) >= 4
    for path in modules:
        for name in imported_modules(path):
            top = name.split(".")[0]
            ok = top in sys.stdlib_module_names or name.startswith(RETENTION_ALLOWED)
            assert ok, f"{path.name} imports {name}"


@pytest.mark.parametrize("module", ["backup_agent.planner", "backup_agent.retention"])
def test_importing_the_planner_pulls_in_no_sdk(module: str) -> None:
    code = (f"import sys, {module}; "
            "bad = [m for m in ('boto3', 'requests', 'pyVmomi', 'azure', 'google', 'sqlite3', "
            "'backup_agent.config', 'providers') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PLANNER.parents[1])
    assert out.stdout.strip() == "[]"
