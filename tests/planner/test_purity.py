"""The planner stays pure: the standard library, its own modules, backup_agent.errors and timefmt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import backup_agent.planner

PLANNER = Path(backup_agent.planner.__file__).parent
ALLOWED_PREFIXES = ("backup_agent.planner", "backup_agent.errors", "backup_agent.timefmt")


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


def test_importing_the_planner_pulls_in_no_sdk() -> None:
    code = ("import sys, backup_agent.planner; "
            "bad = [m for m in ('boto3', 'requests', 'pyVmomi', 'azure', 'google', 'sqlite3', "
            "'backup_agent.config', 'providers') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PLANNER.parents[1])
    assert out.stdout.strip() == "[]"
