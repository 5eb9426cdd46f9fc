"""Debian's chromium, headless, driven by Playwright: the console's browser tests and the
docs' screenshots (bench/console_screenshots.py).

Playwright's own browsers are never downloaded: ``executable_path`` is Debian's
``/usr/bin/chromium`` (tests/peers/install-chromium.sh installs it). A fresh user-data
directory each time, and the flags without which this closed network refuses chromium's
background connections (updates, sync, safe browsing, QUIC).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-14's CSS pixels


@contextmanager
def browser(viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A fresh chromium context (its own profile, no cookies); yields the context."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport=viewport or DESKTOP)
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


def sign_in(page: Any, base: str, token: str) -> None:
    """Open ``/``, be sent to the sign-in page, sign in with ``token``."""
    page.goto(f"{base}/")
    assert "/signin" in page.url, page.url
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def reload_until(page: Any, found: Callable[[], Any], timeout: float = 30, what: str = "it") -> Any:
    """Reload ``page`` until ``found()`` is true (what a person does, or refresh.js)."""
    deadline = time.monotonic() + timeout
    while True:
        if value := found():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not on the page after {timeout} s:\n{page.inner_text('main')}")
        time.sleep(0.3)
        page.reload()
