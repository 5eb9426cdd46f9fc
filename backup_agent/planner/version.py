"""Infinity software versions: parsed once into (release, build), compared by release.

A status object reports ``"24 (55691.0.0)"``; a config backup records ``version`` ``"24"`` and
``build`` ``"55691.0.0"`` apart (infinity-api.md, "Real answers"). Compared as strings they
never match, which refused valid restores and added an upgrade step to every plan. Two
versions are the same release when major.minor match (``"38"`` is ``38.0``); a different build
of one release is worth a note, never a blocker or an upgrade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FORM = re.compile(r"^\s*v?(\d+(?:\.\d+)*)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


@dataclass(frozen=True)
class Version:
    """``release`` is (major, minor); ``build`` the build number text, when known."""

    release: tuple[int, int]
    build: str | None = None
    written: str = field(default="", compare=False)  # the release as the node wrote it

    @classmethod
    def parse(cls, text: str | None, build: str | None = None) -> Version | None:
        """``"24 (55691.0.0)"``, ``"38.1"`` (with ``build`` given apart), or None if unreadable."""
        match = _FORM.match(text or "")
        if not match:
            return None
        parts = [int(p) for p in match.group(1).split(".")]
        release = (parts[0], parts[1] if len(parts) > 1 else 0)
        return cls(release, (match.group(2) or build or None), match.group(1))

    @property
    def release_text(self) -> str:
        """``"38.1"``, as the node wrote it (``"24"``, ``"39.0"``)."""
        if self.written:
            return self.written
        major, minor = self.release
        return f"{major}.{minor}" if minor else str(major)

    def same_release(self, other: Version) -> bool:
        """Whether both run one release (the build may differ)."""
        return self.release == other.release

    def same_build(self, other: Version) -> bool:
        """One release and, where both are known, one build."""
        return self.same_release(other) and (self.build is None or other.build is None
                                             or self.build == other.build)

    def __str__(self) -> str:
        return f"{self.release_text} ({self.build})" if self.build else self.release_text


def same_release(a: str | None, b: str | None, a_build: str | None = None,
                 b_build: str | None = None) -> bool | None:
    """Whether two version texts name one release; None when either cannot be read."""
    va, vb = Version.parse(a, a_build), Version.parse(b, b_build)
    if va is None or vb is None:
        return None
    return va.same_release(vb)


def build_note(a: str | None, b: str | None, a_build: str | None = None,
               b_build: str | None = None) -> str | None:
    """``"build 55691.0.0, not 55700.0.0"`` when one release differs only by build; else None."""
    va, vb = Version.parse(a, a_build), Version.parse(b, b_build)
    if va is None or vb is None or not va.same_release(vb) or va.same_build(vb):
        return None
    return f"build {va.build}, not {vb.build}"
