"""The simulator: one simulated Management Node (and its VMs) served over real HTTP."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from backup_agent.sim.api import ManagementApi
from backup_agent.sim.backups import BackupFailed, BackupStore
from backup_agent.sim.control import ControlApi
from backup_agent.sim.faults import Faults
from backup_agent.sim.http import Response, error, json_response
from backup_agent.sim.hypervisor import Hypervisor
from backup_agent.sim.oauth import OAuthServer
from backup_agent.sim.options import SimOptions
from backup_agent.sim.server import SimHTTPServer
from backup_agent.sim.state import SimState


class Simulator:
    """A simulated Pexip Infinity deployment.

    ``with Simulator(SimOptions(...)) as sim:`` starts it on a free loopback port;
    ``sim.url`` is its base URL, ``sim.faults`` arms faults, ``sim.state`` reads and breaks
    the deployment, ``sim.hypervisor`` holds the VM snapshots of the ``sim`` provider.
    """

    def __init__(self, opts: SimOptions | None = None) -> None:
        self.opts = opts or SimOptions()
        self._own_dir = self.opts.backup_dir is None
        self.backup_dir = Path(self.opts.backup_dir or tempfile.mkdtemp(prefix="backup-agent-sim-"))
        self.backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.faults = Faults()
        self.backups = BackupStore(self.backup_dir, self.opts.now)
        self.state = SimState(self.opts, self.backups)
        self.hypervisor = Hypervisor(self)
        self.oauth = OAuthServer(self.opts.now, self.opts.oauth_token_seconds)
        for client_id, pem in self.opts.oauth_clients.items():
            self.oauth.add_client(client_id, pem)
        self.api = ManagementApi(self)
        self.control = ControlApi(self)
        self._server: SimHTTPServer | None = None
        self.ca_file: Path | None = None  # the self-signed certificate when ``tls`` is on
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        """Serve on ``host:port`` (0: a free port) in a background thread."""
        if self._server is not None:
            return self
        self._server = self._make_server(host, port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sim-http",
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def _make_server(self, host: str, port: int) -> SimHTTPServer:
        server = SimHTTPServer((host, port), self)
        if self.opts.tls:
            from backup_agent.sim.tls import self_signed, server_context
            cert, key = self_signed(self.backup_dir, self.opts.now())
            self.ca_file = cert
            # the handshake happens in the connection's own thread, not in accept()
            server.socket = server_context(cert, key).wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False)
        return server

    def stop(self) -> None:
        """Stop serving and remove the backup files of a private backup directory."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_dir:
            shutil.rmtree(self.backup_dir, ignore_errors=True)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8080`` (the API is under ``/api/admin/``)."""
        host, port = self.address
        return f"{'https' if self.opts.tls else 'http'}://{host}:{port}"

    # -- backups ---------------------------------------------------------------------------
    def backup_content(self) -> dict[str, Any]:
        """What a backup (and a management VM snapshot) captures."""
        return {"config": self.state.config.dump(), **self.state.snapshot_meta()}

    def make_backup(self, passphrase: str, kind: str = "manual") -> dict[str, Any]:
        """Write a configuration backup now; return its listing entry."""
        failure = self.faults.take_backup_failure()
        if failure is not None:
            raise BackupFailed(failure)
        return self.backups.create(self.backup_content(), passphrase, self.state.snapshot_meta(),
                                   padding=self.opts.backup_padding_bytes,
                                   filename=self.faults.take_evil(), kind=kind)

    def run_autobackup(self) -> dict[str, Any]:
        """Make the built-in automatic backup now, as its schedule would (``type`` automatic)."""
        settings = self.state.config.autobackup
        if not settings.get("autobackup_enabled"):
            raise BackupFailed("automatic backups are not enabled")
        if not settings.get("autobackup_passphrase"):
            raise BackupFailed("automatic backups have no passphrase")
        return self.make_backup(str(settings["autobackup_passphrase"]), kind="automatic")

    def restore_configuration(self, header: dict[str, Any], content: dict[str, Any]) -> Response:
        """Replace the whole configuration with a decrypted backup's."""
        version = str(header.get("version", ""))
        if self.opts.restore_requires_same_version and version != self.state.version:
            return error(400, f"This backup was made on version {version}; this Management Node "
                              f"runs {self.state.version}. Restore onto the same version.")
        config = content.get("config")
        if not isinstance(config, dict):
            return error(400, "Invalid backup file: no configuration in it.")
        self.state.config.load(config)
        return json_response({"status": "success", "data": {"message": "Configuration restored"}})
