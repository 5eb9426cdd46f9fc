"""Evidence documents for planner tests, built as plain JSON-ready dicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
DOWN_SINCE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def cn(name: str, status: str = "up", platform: str = "vmware", location: str = "Oslo") -> dict[str, Any]:
    return {"name": name, "status": status, "platform": platform, "location": location}


def backup(id: str, taken: datetime, version: str = "38.1", verified: bool = True) -> dict[str, Any]:
    return {"kind": "config-backup", "id": id, "taken_at": ts(taken), "version": version,
            "verified": verified}


def snapshot(id: str, taken: datetime, version: str = "38.1", available: bool | None = True,
             node: str | None = "mgr01", provider: str = "vsphere-osl") -> dict[str, Any]:
    point: dict[str, Any] = {"kind": "snapshot", "id": id, "taken_at": ts(taken), "version": version,
                             "provider": provider}
    if available is not None:
        point["available"] = available
    if node is not None:
        point["node"] = node
    return point


def export(id: str, taken: datetime, rooms: int = 1234) -> dict[str, Any]:
    return {"kind": "room-export", "id": id, "taken_at": ts(taken), "rooms": rooms}


def evidence(mn_status: str = "down", down_since: datetime | None = DOWN_SINCE,
             cns: list[dict[str, Any]] | None = None, points: list[dict[str, Any]] | None = None,
             now: datetime = NOW, version: str = "38.1", **extra: Any) -> dict[str, Any]:
    mn: dict[str, Any] = {"name": "mgr01", "status": mn_status, "platform": "vmware"}
    if down_since is not None:
        mn["down_since"] = ts(down_since)
    doc: dict[str, Any] = {
        "deployment": "prod",
        "now": ts(now),
        "software_version": version,
        "management_node": mn,
        "conferencing_nodes": cns if cns is not None else [cn("cn-osl-1"), cn("cn-osl-2")],
        "restore_points": points if points is not None else [],
    }
    doc.update(extra)
    return doc


def days_before(days: float, moment: datetime = DOWN_SINCE) -> datetime:
    return moment - timedelta(days=days)
