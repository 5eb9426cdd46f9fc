"""No code outside ``backup_agent/store`` knows where the store keeps its bytes.

The jobs, commands and the catalog see the ``Store`` contract and keys; only ``open_store``
is handed the configured directory. (mypy keeps ``env.store`` to the contract's methods.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import backup_agent

PACKAGE = Path(backup_agent.__file__).parent
IMPLEMENTATIONS = {"LocalStore", "MemoryStore", "AtomicFile", "MemorySink", "S3Store", "S3Sink",
                   "AzureBlobStore", "AzureSink", "GCSStore", "GCSSink", "PartedSink"}


def outside_the_store() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py")
            if "store" not in p.relative_to(PACKAGE).parts[:1] and p.name != "config.py"]


def test_only_open_store_is_given_the_store_directory() -> None:
    offenders = []
    for path in outside_the_store():
        tree = ast.parse(path.read_text())
        allowed = {id(call.args[0]) for call in ast.walk(tree)
                   if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "open_store"
                   and call.args}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "store_path" and id(node) not in allowed:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == [], f"the store's directory used outside open_store: {offenders}"


def test_no_store_implementation_is_named_outside_the_store() -> None:
    offenders = []
    for path in outside_the_store():
        for node in ast.walk(ast.parse(path.read_text())):
            names = {a.name for a in node.names} if isinstance(node, ast.ImportFrom) else set()
            if isinstance(node, ast.Name):
                names = {node.id}
            if names & IMPLEMENTATIONS:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == [], f"a store implementation named outside store/: {offenders}"
