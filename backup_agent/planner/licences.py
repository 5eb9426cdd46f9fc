"""Licences in the evidence (an extension): what a rebuilt or restored Management Node must be
re-licensed with. ``licences``: ``[{"entitlement_id": "...", "expiration_date": "2027-09-01"}]``,
from the live node or, when it is down, the newest inventory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backup_agent.errors import EvidenceError


@dataclass(frozen=True)
class Licence:
    """One licence of the deployment: its entitlement and when it expires (``YYYY-MM-DD``)."""

    entitlement_id: str
    expiration_date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"entitlement_id": self.entitlement_id}
        if self.expiration_date:
            out["expiration_date"] = self.expiration_date
        return out


def parse_licences(data: Mapping[str, Any]) -> tuple[Licence, ...]:
    """The optional ``licences`` list; EvidenceError naming the entry when one is malformed."""
    items = data.get("licences") or []
    if not isinstance(items, list):
        raise EvidenceError("licences: expected a list")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("entitlement_id"), str) \
                or not item["entitlement_id"]:
            raise EvidenceError(f"licences[{i}].entitlement_id: expected a non-empty string")
        expires = item.get("expiration_date")
        out.append(Licence(item["entitlement_id"], str(expires)[:10] if expires else None))
    return tuple(out)


def relicense_detail(licences: tuple[Licence, ...], what: str) -> str:
    """The re-license step's text: which entitlements to activate on ``what``."""
    if not licences:
        return (f"{what} must be re-licensed: activate the deployment's entitlement(s) in "
                "Platform > Licenses (none on record: find them in Pexip's licensing portal)")
    names = ", ".join(f"{lic.entitlement_id}" + (f" (expires {lic.expiration_date})"
                                                 if lic.expiration_date else "")
                      for lic in licences)
    return (f"{what} must be re-licensed: activate entitlement(s) {names} in Platform > "
            "Licenses (online, or offline through Pexip's licensing portal)")
