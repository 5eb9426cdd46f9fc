"""One-off commands of the image (``podman run IMAGE COMMAND``), locked down as in production:
read-only root, no capabilities, no --init, the image's own non-root user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from backup_agent import __version__
from backup_agent.sim import Simulator
from tests.container.conftest import LOCKED_DOWN, ROOT, UID, Image, Setup, assert_no_secret, podman
from tests.planner.helpers import backup, days_before, evidence


def test_version_locked_down(image: Image) -> None:
    done = image.run("--version", options=LOCKED_DOWN)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"backup-agent {__version__}"


def test_runs_as_the_image_user_not_root(image: Image) -> None:
    script = "import os; print(os.getuid(), os.getgid(), os.getpid())"
    done = image.run("-c", script, options=(*LOCKED_DOWN, "--entrypoint", "/opt/backup-agent/bin/python"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(UID), str(UID), "1"]  # and PID 1 without --init


def test_plan_from_a_mounted_evidence_file(image: Image, tmp_path: Path) -> None:
    """No configuration needed; the plan is the one the same code makes on the host."""
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence(points=[backup("b-1", days_before(1))])))
    done = image.run("plan", "--evidence", "/in/evidence.json", "--json",
                     options=(*LOCKED_DOWN, "-v", f"{path}:/in/evidence.json:ro"))
    assert done.returncode == 0, done.stderr
    host = subprocess.run([sys.executable, "-m", "backup_agent.cli.main", "plan", "--evidence", str(path),
                           "--json"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    assert json.loads(done.stdout) == json.loads(host.stdout)
    assert [p["kind"] for p in json.loads(done.stdout)["paths"]] == ["restore-backup", "rebuild"]


def test_backup_against_the_simulator_on_the_host(image: Image, setup: Setup, sim: Simulator) -> None:
    """Secrets as files, the data on the volume owned by the image's uid, the catalog usable."""
    options = (*LOCKED_DOWN, "--network", "host", *setup.mounts())
    done = image.run("backup", options=options, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_no_secret(done.stdout, done.stderr)
    stored = [p for p in (setup.data / "store").rglob("*") if p.is_file()]
    assert stored, "nothing stored on the volume"
    assert {p.stat().st_uid for p in stored} == {UID}
    listed = image.run("list", "--json", options=options)
    assert listed.returncode == 0, listed.stderr
    points = json.loads(listed.stdout)
    assert "config-backup" in {p["kind"] for p in points}
    assert (setup.data / "catalog.db").stat().st_uid == UID


def test_a_fresh_named_volume_is_writable(image: Image, setup: Setup, sim: Simulator) -> None:
    """The image creates /var/lib/backup-agent owned by its uid, so a new named volume is too."""
    volume = f"backup-agent-test-{os.getpid()}-{sim.address[1]}"
    podman("volume", "create", volume)
    try:
        done = image.run("export", options=(*LOCKED_DOWN, "--network", "host", *setup.mounts(data=volume)),
                         timeout=120)
        assert done.returncode == 0, done.stderr
        listed = image.run("list", "--json", options=(*LOCKED_DOWN, *setup.mounts(data=volume)))
        assert "room-export" in {p["kind"] for p in json.loads(listed.stdout)}
    finally:
        podman("volume", "rm", "--force", volume, check=False)
