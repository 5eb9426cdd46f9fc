"""Bad input to the image: each one a clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_agent.errors import EXIT_FAILED, EXIT_USAGE
from backup_agent.sim import Simulator
from tests.container.conftest import LOCKED_DOWN, Image, Setup, agent_toml, assert_no_secret

HEALTHCHECK = ("--entrypoint", "backup-agent-healthcheck")


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_no_configuration_mounted(image: Image) -> None:
    done = image.run("backup", options=LOCKED_DOWN)
    assert done.returncode == EXIT_USAGE
    line = one_line(done.stderr)
    assert "/etc/backup-agent/agent.toml" in line and "not found" in line


def test_healthcheck_says_why_without_configuration(image: Image) -> None:
    done = image.run(options=(*LOCKED_DOWN, *HEALTHCHECK))
    assert done.returncode == 1
    assert one_line(done.stdout) == ("unhealthy: no configuration at /etc/backup-agent/agent.toml "
                                     "(mount agent.toml there)")


def test_a_configuration_the_agent_refuses(image: Image, setup: Setup) -> None:
    setup.config.write_text(setup.config.read_text() + 'colour = "blue"\n')
    done = image.run("backup", options=(*LOCKED_DOWN, *setup.mounts()))
    assert done.returncode == EXIT_USAGE
    assert "colour" in one_line(done.stderr)


def test_a_volume_it_cannot_write(image: Image, setup: Setup, sim: Simulator, tmp_path: Path) -> None:
    """Owned by root, mode 0755: the image's user can read it but not write it."""
    root_owned = tmp_path / "root-owned"
    root_owned.mkdir(mode=0o755)
    done = image.run("backup", options=(*LOCKED_DOWN, "--network", "host",
                                        *setup.mounts(data=str(root_owned))))
    assert done.returncode == EXIT_FAILED
    assert "Traceback" not in done.stderr
    # One error line; the log file it cannot open either is a warning before it.
    errors = [line for line in done.stderr.splitlines() if line.startswith("backup-agent:")]
    assert len(errors) == 1 and "/var/lib/backup-agent/catalog.db" in errors[0], done.stderr
    for line in done.stderr.strip().splitlines():
        assert "/var/lib/backup-agent" in line, line
    assert_no_secret(done.stdout, done.stderr)
    assert list(root_owned.iterdir()) == []


def test_a_secret_file_missing(image: Image, setup: Setup, sim: Simulator) -> None:
    (setup.secrets / "pexip-backup-passphrase").unlink()
    done = image.run("backup", options=(*LOCKED_DOWN, "--network", "host", *setup.mounts()))
    assert done.returncode == EXIT_USAGE
    assert "pexip-backup-passphrase" in one_line(done.stderr)


class _Health(http.server.BaseHTTPRequestHandler):
    ready: tuple[int, bytes] = (200, b'{"ok": true}\n')

    def do_GET(self) -> None:
        status, body = {"/healthz": (200, b'{"ok": true}\n'), "/readyz": self.ready}.get(
            self.path, (404, b"no such page\n"))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_port() -> Iterator[int]:
    """A /healthz on the host's loopback, standing in for the daemon's address."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_healthcheck_probes_the_configured_address(image: Image, setup: Setup, health_port: int) -> None:
    """[daemon] listen in the file, else BACKUP_AGENT_DAEMON_LISTEN wins, else the image default."""
    options = (*LOCKED_DOWN, "--network", "host", *HEALTHCHECK, *setup.mounts())
    setup.config.write_text(f'[daemon]\nlisten = "127.0.0.1:{health_port}"\n\n'
                            + setup.config.read_text())
    done = image.run(options=options)
    assert (done.returncode, one_line(done.stdout)) == (
        0, f"healthy: http://127.0.0.1:{health_port}/healthz answered 200")
    # The environment overrides the file, as for the daemon.
    done = image.run(options=("-e", "BACKUP_AGENT_DAEMON_LISTEN=127.0.0.1:1", *options))
    assert done.returncode == 1
    assert one_line(done.stdout).startswith("unhealthy: nothing answers on http://127.0.0.1:1/healthz")


def test_healthcheck_on_the_image_default_when_nothing_is_configured(image: Image, setup: Setup,
                                                                    health_port: int) -> None:
    setup.config.write_text(agent_toml("http://127.0.0.1:1"))
    options = (*LOCKED_DOWN, "--network", "host", *HEALTHCHECK, *setup.mounts(),
               "-e", f"BACKUP_AGENT_IMAGE_LISTEN=0.0.0.0:{health_port}")
    done = image.run(options=options)
    assert (done.returncode, one_line(done.stdout)) == (
        0, f"healthy: http://127.0.0.1:{health_port}/healthz answered 200")


def test_healthcheck_reports_not_ready_without_failing(image: Image, setup: Setup, health_port: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Alive but not ready (a store it cannot write): still healthy, and the line says why."""
    monkeypatch.setattr(_Health, "ready", (503, b'{"ok": false, "store": "cannot write"}\n'))
    options = (*LOCKED_DOWN, "--network", "host", *HEALTHCHECK, *setup.mounts(),
               "-e", f"BACKUP_AGENT_DAEMON_LISTEN=127.0.0.1:{health_port}")
    done = image.run(options=options)
    assert (done.returncode, one_line(done.stdout)) == (
        0, f'healthy: http://127.0.0.1:{health_port}/healthz answered 200; '
           'not ready (503): {"ok": false, "store": "cannot write"}')
