"""Options of a simulated deployment: its size, its seed, its timing and its API readings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: The lab credential of the simulator. Not a secret: it only opens a local simulator.
DEFAULT_PASSWORD = "sim-admin"  # noqa: S105
DEFAULT_USERNAME = "admin"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SimOptions:
    """How the simulated Management Node looks and behaves.

    ``rooms`` is the number of conferences of every service type together:
    ``auditoriums`` of them are Virtual Auditoriums (``lecture``; default a tenth), one each
    is a Virtual Reception, a test call service and a media playback service (when there are
    enough rooms), the rest are VMRs. Each has ``aliases_per_room`` aliases, so a deployment
    of 20,000 rooms with 2 aliases per room has exactly 40,000 aliases.

    Unconfirmed readings of the real API are choices here:
    ``backup_create_status`` (200 or 202) and ``download_mode``: ``"item"`` serves the file
    bytes at ``system_backup/<filename>/``; ``"request"`` serves them only at a
    ``backup_request``'s ``download_uri`` (the item then answers JSON metadata).
    """

    rooms: int = 200
    aliases_per_room: int = 2
    auditoriums: int | None = None
    automatic_participants: int | None = None  # default: one per 20 rooms
    conferencing_nodes: int = 4
    locations: int | None = None  # default: min(3, conferencing_nodes) (at least 1)
    seed: int = 1
    latency_ms: float = 0.0
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    #: The release profile (``backup_agent.sim.release``): answer shapes of that release.
    release: str = "current"
    #: The software version and build; default the release profile's. ``"24 (55691.0.0)"``
    #: (a status object's form) is accepted too.
    version: str | None = None
    build: str | None = None
    management_name: str = "mgr01"
    management_address: str = "10.0.0.10"
    #: After a ``backup_restore`` the node restarts its services: it answers 503 for this long.
    restore_restart_seconds: float = 0.0
    backup_create_status: int = 202
    download_mode: str = "item"
    default_page_size: int = 20
    max_page_size: int = 5000
    backup_padding_bytes: int = 0
    #: How long a background backup request stays queued/running before it completes.
    backup_request_seconds: float = 0.2
    #: How long each hypervisor snapshot takes (the sim provider's benchmark sets 1 s).
    snapshot_seconds: float = 0.0
    #: Serve ``Range: bytes=N-`` on downloads (206), so a cut download can resume. Unconfirmed
    #: on the real node, so off by default: a client must cope with restarting from zero.
    accept_ranges: bool = False
    #: Refuse a restore whose backup was made on another version (as a real upgrade path would).
    restore_requires_same_version: bool = True
    #: OAuth2 API clients: client id -> EC P-256 public key (PEM). See backup_agent.sim.oauth.
    oauth_clients: dict[str, str] = field(default_factory=dict)
    #: Like ``api_oauth2_disable_basic`` on the node: only bearer tokens open the API.
    basic_auth_disabled: bool = False
    oauth_token_seconds: int = 3600
    #: Serve HTTPS with a self-signed certificate (``Simulator.ca_file`` is its path).
    tls: bool = False
    #: Read-only fields in a write (``creation_time``, ``sync_tag``, ids...): ignored as
    #: Tastypie does (default), or refused with a 400 naming the field, to catch a client
    #: that sends them.
    refuse_readonly: bool = False
    #: Start empty (a freshly deployed Management Node): no rooms, locations or nodes.
    empty: bool = False
    #: Where backup files live; default a private temporary directory removed on stop.
    backup_dir: str | None = None
    now: Callable[[], datetime] = field(default=_utcnow, repr=False)

    def __post_init__(self) -> None:
        from backup_agent.sim.release import profile, split_version
        release = profile(self.release)
        version, build = split_version(self.version or release.version, self.build)
        self.version, self.build = version, build or release.build
        if self.backup_create_status not in (200, 202):
            raise ValueError("backup_create_status must be 200 or 202")
        if self.download_mode not in ("item", "request"):
            raise ValueError("download_mode must be 'item' or 'request'")
        for name in ("rooms", "aliases_per_room", "conferencing_nodes", "default_page_size",
                     "max_page_size", "backup_padding_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.default_page_size < 1 or self.max_page_size < 1:
            raise ValueError("page sizes must be at least 1")
        if not all(0 <= getattr(self, name) < 1e9 for name in  # false for nan too
                   ("latency_ms", "snapshot_seconds", "restore_restart_seconds")):
            raise ValueError("latency_ms, snapshot_seconds and restore_restart_seconds must be "
                             "finite, zero or more")

    @property
    def lecture_count(self) -> int:
        if self.auditoriums is not None:
            return min(self.auditoriums, self.rooms)
        return self.rooms // 10

    @property
    def location_count(self) -> int:
        if self.locations is not None:
            return self.locations
        return max(1, min(3, self.conferencing_nodes))
