"""Release profiles: how the simulated Management Node's answers differ between releases.

A real node's status resources change shape between releases (infinity-api.md, "Real
answers"): current releases report ``sync_status``; older ones (v24, from a capture of a real
node) have none and report ``last_reported`` besides ``last_attempted_contact``. A profile
gathers those differences so that one option (``SimOptions.release``, ``sim --release``)
switches them all, and the agent is tested against both shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"^\s*([0-9][0-9.]*)\s*(?:\(\s*([^)]*?)\s*\))?\s*$")


@dataclass(frozen=True)
class Release:
    """One release's answer shapes and its default software version."""

    name: str
    version: str  # as system_backup records it: "38.1"
    build: str  # as system_backup records it: "81522.0.0"
    sync_status: bool  # status objects carry sync_status
    last_reported: bool  # status objects carry last_reported
    status_events: bool  # history/v1/workervm_status_event/ exists
    description: str


PROFILES: dict[str, Release] = {
    "current": Release("current", "38.1", "81522.0.0", sync_status=True, last_reported=False,
                       status_events=True, description="a current release (v38-like)"),
    "v24": Release("v24", "24", "55691.0.0", sync_status=False, last_reported=True,
                   status_events=False,
                   description="an older release (v24-like): no sync_status, last_reported, "
                               "no workervm_status_event history"),
}
DEFAULT = "current"


def profile(name: str) -> Release:
    """The profile called ``name``; ValueError naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown release {name!r}; known: {', '.join(PROFILES)}") from None


def status_version(version: str, build: str) -> str:
    """The version as a status object reports it, with the build: ``"24 (55691.0.0)"``."""
    return f"{version} ({build})" if build else version


def split_version(text: str, build: str | None = None) -> tuple[str, str | None]:
    """``"24 (55691.0.0)"`` -> ``("24", "55691.0.0")``; a bare ``"38.1"`` keeps ``build``."""
    match = _VERSION.match(text or "")
    if not match:
        return text, build
    return match.group(1), match.group(2) or build
