"""Shared test set-up.

Under CI (``CI=true``) a skipped test is a failure: a peer that did not start must turn CI
red, not quietly shrink the suite.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if IN_CI and skipped:
        terminalreporter.write_line(
            f"CI=true: {len(skipped)} test(s) skipped; a skipped peer test is a failure in CI",
            red=True,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if IN_CI and reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Each CLI call installs its log handler; later tests must not inherit it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def small_fs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 1 MiB tmpfs, so that 'disk full' is a real ENOSPC from the kernel."""
    path = tmp_path_factory.mktemp("full")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)  # lazy: a killed child may hold it
