"""The layering, guarded: data flows one way (front ends → service → jobs → client, providers,
store, catalog), ``providers`` stays a package of its own, and the planner does no I/O.

Every import is read from the source (module level and inside functions alike, since the
code imports SDKs and heavy modules lazily), so a lazy import cannot slip past.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What "no I/O" rules out for the planner: files, processes, sockets, HTTP, databases, clocks.
IO_MODULES = ("os", "io", "pathlib", "shutil", "tempfile", "subprocess", "socket", "ssl",
              "http", "urllib", "requests", "sqlite3", "time", "logging", "threading",
              "asyncio", "select", "signal", "glob", "fcntl")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, absolute, with its line."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append((node.lineno, ".".join([*base, node.module or ""]).rstrip(".")))
            elif node.module:
                found.append((node.lineno, node.module))
    return found


def offences(package: str, forbidden: tuple[str, ...]) -> list[str]:
    files = sorted((ROOT / package.replace(".", "/")).rglob("*.py"))
    assert files, f"no modules under {package}"
    return [f"{path.relative_to(ROOT)}:{line} imports {name}"
            for path in files for line, name in imports_of(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize(("package", "forbidden"), [
    ("providers", ("backup_agent",)),  # knows nothing of Pexip: usable without the agent
    ("backup_agent.jobs", ("backup_agent.cli", "backup_agent.service")),
    ("backup_agent.service", ("backup_agent.cli",)),  # the daemon calls it without a CLI
    ("backup_agent.daemon", ("backup_agent.cli",)),  # the same code as the CLI, never the CLI
    ("backup_agent.retention", ("backup_agent.cli", "backup_agent.jobs", "backup_agent.service",
                                "backup_agent.catalog", "backup_agent.store", "backup_agent.infinity",
                                "backup_agent.daemon", "providers", *IO_MODULES)),  # pure
    ("backup_agent.infinity", ("backup_agent.cli", "backup_agent.jobs", "backup_agent.service")),
    ("backup_agent.store", ("backup_agent.cli", "backup_agent.jobs", "backup_agent.service")),
    ("backup_agent.planner", ("backup_agent.cli", "backup_agent.jobs", "backup_agent.service",
                              "backup_agent.catalog", "backup_agent.store", "backup_agent.infinity",
                              "providers", *IO_MODULES)),
])
def test_layering(package: str, forbidden: tuple[str, ...]) -> None:
    assert offences(package, forbidden) == []


def test_the_planner_calls_no_io_builtin() -> None:
    """``open``, ``input`` and ``print`` need no import: looked for as calls."""
    calls = {"open", "input", "print", "exec", "eval", "__import__"}
    assert calls <= set(dir(builtins))
    found = []
    for path in sorted((ROOT / "backup_agent" / "planner").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in calls:
                found.append(f"{path.name}:{node.lineno} calls {node.func.id}")
    assert found == []


def test_the_guard_sees_a_lazy_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself can fail: an import inside a function, or a relative one, is found."""
    pkg = tmp_path / "providers"
    pkg.mkdir()
    (pkg / "bad.py").write_text("def f():\n    from backup_agent.cli import main\n")
    (pkg / "worse.py").write_text("from ..backup_agent import jobs\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert offences("providers", ("backup_agent",)) == [
        "providers/bad.py:2 imports backup_agent.cli", "providers/worse.py:1 imports backup_agent"]
