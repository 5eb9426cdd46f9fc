"""The one place times are formatted and parsed: the catalog, the plan, the evidence, ids.

Pure (standard library only) so the planner may use it. Every stored or exchanged time is
ISO 8601 in UTC with a ``Z``, to the second; a time without a timezone is refused, never
guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """``2026-11-26T10:15:02Z``: the catalog's, the plan's and the JSON's time format."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: a time without a timezone is refused")
    if moment.tzinfo is UTC and moment.year >= 1000:  # the catalog's own times: no strftime
        return moment.replace(tzinfo=None, microsecond=0).isoformat() + "Z"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time that carries a timezone (``Z`` or an offset), in UTC; else ValueError."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is UTC:  # the catalog's own times: already what is returned
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"no timezone in {text!r} (add Z or +00:00)")
    return moment.astimezone(UTC)


def human(moment: datetime) -> str:
    """``2026-11-19 01:02 UTC``: the form runbooks and 'loses' lines use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def stamp(moment: datetime, micro: bool = False) -> str:
    """``20261126T101502Z`` (with microseconds when ``micro``): the time inside an id."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ" if micro else "%Y%m%dT%H%M%SZ")
