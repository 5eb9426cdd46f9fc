"""``backup-agent sim``: run a simulated Pexip Infinity deployment in the foreground.

The simulator's password is a lab credential, not a secret: the default ``sim-admin`` is
printed so a demo can be followed by copy and paste. A password given by ``--password-file``
or ``BACKUP_AGENT_SIM_PASSWORD`` is not printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from typing import Any

from backup_agent.cli.common import Context, amount
from backup_agent.errors import AgentError, UsageError

PASSWORD_ENV = "BACKUP_AGENT_SIM_PASSWORD"  # noqa: S105 - the name of a variable


def register(subparsers: Any) -> None:
    """Add the ``sim`` command."""
    p = subparsers.add_parser("sim", help="run a simulated Infinity deployment (Ctrl-C to stop)",
                              description="Serve a simulated Pexip Infinity Management Node API "
                              "(and the sim provider's hypervisor) on loopback until Ctrl-C/SIGTERM.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--rooms", type=int, default=200, help="conferences of all service types")
    p.add_argument("--aliases-per-room", type=int, default=2)
    p.add_argument("--auditoriums", type=int, default=None,
                   help="how many of the rooms are Virtual Auditoriums (default a tenth)")
    p.add_argument("--nodes", type=int, default=4, help="Conferencing Nodes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=amount, default=0.0, help="added to every request")
    p.add_argument("--download-mode", choices=("item", "request"), default="item",
                   help="backup bytes at system_backup/<filename>/ (item) or at "
                   "backup_request.download_uri (request)")
    p.add_argument("--backup-status", type=int, choices=(200, 202), default=202,
                   help="status backup_create answers")
    p.add_argument("--backup-padding-bytes", type=int, default=0,
                   help="make every backup file this much bigger (download benchmarks)")
    p.add_argument("--snapshot-seconds", type=amount, default=0.0,
                   help="how long each hypervisor snapshot takes")
    p.add_argument("--release", default="current", choices=("current", "v24"),
                   help="answer shapes of a release: current (default; sync_status) or v24 "
                   "(no sync_status, last_reported, no workervm_status_event history)")
    p.add_argument("--software-version", default=None,
                   help="Infinity version to report, e.g. 38.1 or '38.1 (81522.0.0)' "
                   "(default the release's: 38.1 build 81522.0.0, or 24 build 55691.0.0)")
    p.add_argument("--restore-restart-seconds", type=float, default=0.0,
                   help="after a backup_restore the node answers 503 this long (restarting)")
    p.add_argument("--empty", action="store_true", help="start as an empty Management Node")
    p.add_argument("--tls", action="store_true",
                   help="serve HTTPS with a self-signed certificate (its path is printed: ca_bundle)")
    p.add_argument("--accept-ranges", action="store_true",
                   help="serve Range requests on backup downloads")
    p.add_argument("--oauth-client", action="append", default=[], metavar="ID=PEM_FILE",
                   help="register an OAuth2 API client by its EC P-256 public key (repeatable)")
    p.add_argument("--disable-basic", action="store_true",
                   help="refuse basic auth on the API (OAuth2 bearer tokens only)")
    p.add_argument("--username", default="admin")
    p.add_argument("--password-file", metavar="FILE",
                   help=f"read the password from FILE (else ${PASSWORD_ENV}, else 'sim-admin')")
    p.set_defaults(func=run)


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password and whether it is the documented lab default (safe to print)."""
    from backup_agent.sim import DEFAULT_PASSWORD
    if args.password_file:
        try:
            value = Path(args.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read --password-file {args.password_file}: "
                             f"{exc.strerror or exc}") from exc
        if not value:
            raise UsageError(f"--password-file {args.password_file} is empty")
        return value, False
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV], False
    return DEFAULT_PASSWORD, True


def _oauth_clients(specs: list[str]) -> dict[str, str]:
    clients = {}
    for spec in specs:
        client_id, sep, path = spec.partition("=")
        if not sep or not client_id or not path:
            raise UsageError(f"--oauth-client wants ID=PEM_FILE, not {spec!r}")
        try:
            clients[client_id] = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --oauth-client key {path}: {exc.strerror or exc}") from exc
    return clients


def run(args: argparse.Namespace, ctx: Context) -> int:
    """Serve until Ctrl-C or SIGTERM; exit 0."""
    from backup_agent.sim import SimOptions, Simulator
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be 0 to 65535 (0 picks a free one)")
    password, printable = _password(args)
    try:
        opts = SimOptions(
            rooms=args.rooms, aliases_per_room=args.aliases_per_room, auditoriums=args.auditoriums,
            conferencing_nodes=args.nodes, seed=args.seed, latency_ms=args.latency_ms,
            username=args.username, password=password, version=args.software_version,
            release=args.release, restore_restart_seconds=args.restore_restart_seconds,
            backup_create_status=args.backup_status, download_mode=args.download_mode,
            backup_padding_bytes=args.backup_padding_bytes, snapshot_seconds=args.snapshot_seconds,
            empty=args.empty, accept_ranges=args.accept_ranges, tls=args.tls,
            oauth_clients=_oauth_clients(args.oauth_client), basic_auth_disabled=args.disable_basic)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        sim = Simulator(opts)
    except ValueError as exc:  # e.g. an --oauth-client key that is not EC P-256
        raise UsageError(f"--oauth-client: {exc}") from exc
    try:
        sim.start(args.host, args.port)
    except OSError as exc:
        sim.stop()
        raise AgentError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
                         "(pick another --port)") from exc
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        source = "--password-file" if args.password_file else PASSWORD_ENV
        shown = password if printable else f"(from {source})"
        counts = sim.state.counts()
        ctx.out.write(
            f"Simulated Pexip Infinity Management Node at {sim.url}\n"
            f"  API:         {sim.url}/api/admin/\n"
            f"  credentials: {opts.username} / {shown}  (lab credential)\n"
            f"  deployment:  {counts['conference']} rooms, {counts['conference_alias']} aliases, "
            f"{counts['worker_vm']} Conferencing Nodes, version {opts.version} ({opts.build}), "
            f"release profile {opts.release}\n"
            f"  control:     {sim.url}/_sim/state   (Ctrl-C to stop)\n"
            + (f"  ca_bundle:   {sim.ca_file}\n" if sim.ca_file else ""))
        ctx.out.flush()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.stop()
    return 0
