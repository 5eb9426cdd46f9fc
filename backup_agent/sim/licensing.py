"""Licences: ``configuration/v1/licence/`` and ``status/v1/licensing/``.

``status/v1/licensing/`` answers a list of one object although it is a singleton; a licence
holds ``entitlement_id, fulfillment_id, expiration_date, status`` (infinity-api.md, "Real
answers"). A licence expiring within ``EXPIRING_DAYS`` raises ``licenses_expiring``, as a real
node warns; a freshly deployed (empty) Management Node has no licence.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from backup_agent.sim.model import API

if TYPE_CHECKING:
    from backup_agent.sim.state import SimState

EXPIRING_DAYS = 30
LICENCE = API + "configuration/v1/licence/"


class Licences:
    """The licences installed on the simulated Management Node."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self.rows: list[dict[str, Any]] = []

    def clear(self) -> None:
        with self._lock:
            self.rows.clear()
        self.state.events.lower_alarm("licenses_expiring")

    def seed(self, days: int = 300) -> None:
        """The seeded deployment's licence: valid for ``days`` more days."""
        self.clear()
        self.install("1a2b-3c4d-5e6f-7a8b", self.state.opts.now().date() + timedelta(days=days))

    def install(self, entitlement: str, expires: date, concurrent: int = 100) -> dict[str, Any]:
        """Activate a licence (what the re-license step of a restore does by hand)."""
        with self._lock:
            fulfillment = f"FID{len(self.rows) + 1:06d}"
            row = {"entitlement_id": entitlement, "fulfillment_id": fulfillment,
                   "fulfillment_type": "Production", "product_id": "pexip-infinity-port",
                   "license_type": "port", "features": "", "concurrent": concurrent,
                   "concurrent_overdraft": 0, "activatable": 0, "activatable_overdraft": 0,
                   "hybrid": 0, "hybrid_overdraft": 0,
                   "start_date": (expires - timedelta(days=365)).isoformat(),
                   "expiration_date": expires.isoformat(), "status": "active",
                   "trust_flags": 0, "repair": 0, "server_chain": "", "vendor_dictionary": {},
                   "offline_mode": False, "resource_uri": f"{LICENCE}{fulfillment}/"}
            self.rows.append(row)
        self.check(self.state.opts.now())
        return row

    def set_expiry(self, expires: date) -> None:
        """Every licence expires on ``expires`` (a drill of a licence running out)."""
        with self._lock:
            for row in self.rows:
                row["expiration_date"] = expires.isoformat()
        self.check(self.state.opts.now())

    def check(self, now: datetime) -> None:
        """Raise (or lower) ``licenses_expiring`` for licences expiring soon."""
        soon = [r for r in self.listing()
                if date.fromisoformat(r["expiration_date"]) - now.date() <= timedelta(days=EXPIRING_DAYS)]
        events = self.state.events
        if soon:
            first = min(r["expiration_date"] for r in soon)
            events.raise_alarm("licenses_expiring", self.state.opts.management_address,
                               instance=soon[0]["fulfillment_id"],
                               details=f"{len(soon)} licence(s) expire on or before {first}",
                               now=now)
        else:
            events.lower_alarm("licenses_expiring", now=now)

    def listing(self) -> list[dict[str, Any]]:
        """``configuration/v1/licence/`` objects."""
        with self._lock:
            return [dict(r) for r in self.rows]

    def status(self) -> list[dict[str, Any]]:
        """``status/v1/licensing/``: a list of one object, though it is a singleton."""
        with self._lock:
            ports = sum(int(r["concurrent"]) for r in self.rows if r["status"] == "active")
        nodes = len(self.state.config.rows("worker_vm"))
        return [{"audio_count": 0, "audio_total": ports, "port_count": 0, "port_total": ports,
                 "system_count": nodes, "system_total": max(nodes, 1) if ports else 0,
                 "vmr_count": len(self.state.config.rows("conference")), "vmr_total": ports * 10,
                 "teams_count": 0, "teams_total": 0, "ghm_count": 0, "ghm_total": 0,
                 "otj_count": 0, "otj_total": 0, "scheduling_count": 0, "scheduling_total": 0,
                 "telehealth_count": 0, "telehealth_total": 0, "customlayouts_active": False,
                 "resource_uri": f"{API}status/v1/licensing/1/"}]
