"""``backup-agent backup`` end to end against the simulator, and every bad input of it."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSPHRASE, PASSWORD, Runner, listing, write_config


def visible_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
            and p.name not in ("catalog.db", "catalog.db-wal", "catalog.db-shm")]


def stray_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.is_file()]


def test_backup_creates_verified_restore_point(agent: Runner, cfg: Path, sim: Simulator) -> None:
    code, out, err = agent("--config", str(cfg), "backup", "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["outcome"] == "completed"
    points = listing(agent, cfg)
    kinds = sorted(p["kind"] for p in points)
    assert kinds == ["config-backup", "inventory"]
    cb = next(p for p in points if p["kind"] == "config-backup")
    assert cb["version"] == "38.1" and cb["build"]
    [f] = cb["files"]
    body = Path(f["path"]).read_bytes()
    assert hashlib.sha256(body).hexdigest() == f["sha256"] and len(body) == f["size"]
    assert os.stat(f["path"]).st_mode & 0o777 == 0o600
    assert PASSPHRASE.encode() not in body, "the backup file is encrypted"
    listed = {b["filename"]: b for b in sim_backups(sim)}
    assert listed[f["name"]]["sha256sum"] == f["sha256"]


def sim_backups(sim: Simulator) -> list[dict[str, object]]:
    import requests

    r = requests.get(f"{sim.url}/api/admin/configuration/v1/system_backup/",
                     auth=("admin", PASSWORD), timeout=5)
    objects: list[dict[str, object]] = r.json()["objects"]
    return objects


@pytest.mark.parametrize(("status", "mode"), [(200, "item"), (202, "item"), (202, "request"), (200, "request")])
def test_both_unconfirmed_readings(agent: Runner, tmp_path: Path, status: int, mode: str) -> None:
    from backup_agent.sim import SimOptions

    with Simulator(SimOptions(rooms=20, password=PASSWORD, backup_create_status=status,
                              download_mode=mode, backup_request_seconds=0.05)) as s:
        cfg = write_config(tmp_path, s.url)
        code, _, err = agent("--config", str(cfg), "backup")
        assert code == 0, err
    assert [p["kind"] for p in listing(agent, cfg)].count("config-backup") == 1


def test_wrong_password_is_one_line_and_touches_nothing(agent: Runner, cfg: Path, tmp_path: Path) -> None:
    assert agent("--config", str(cfg), "backup")[0] == 0
    before = listing(agent, cfg)
    (tmp_path / "pw").write_text("wrong-password")
    code, _, err = agent("--config", str(cfg), "backup")
    assert code == 1
    assert "credentials" in err and "Traceback" not in err
    assert listing(agent, cfg) == before


def test_refused_connection(agent: Runner, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    code, _, err = agent("--config", str(cfg), "backup")
    assert code == 1 and "127.0.0.1:9" in err and "Traceback" not in err
    assert listing(agent, cfg) == []


def test_5xx_burst_and_429_are_retried(agent: Runner, cfg: Path, sim: Simulator) -> None:
    sim.faults.fail_next(2, status=503)
    sim.faults.rate_limit_next(1, retry_after=0)
    code, _, err = agent("--config", str(cfg), "backup")
    assert code == 0, err


def test_5xx_forever_fails_clearly(agent: Runner, cfg: Path, sim: Simulator) -> None:
    sim.faults.fail_next(50, status=502)
    code, _, err = agent("--config", str(cfg), "backup")
    assert code == 1 and "502" in err and "Traceback" not in err
    assert listing(agent, cfg) == []


@pytest.mark.parametrize("fault", ["html_next", "malformed_json_next"])
def test_garbage_answers_fail_clearly(agent: Runner, cfg: Path, sim: Simulator, fault: str) -> None:
    getattr(sim.faults, fault)(50)
    code, _, err = agent("--config", str(cfg), "backup")
    assert code == 1 and "JSON" in err and "Traceback" not in err


def test_cut_download_retried_then_ok(agent: Runner, cfg: Path, sim: Simulator) -> None:
    sim.faults.cut_download(after_bytes=500, times=1)
    code, _, err = agent("--config", str(cfg), "backup")
    assert code == 0, err


def test_cut_download_every_time_leaves_nothing(agent: Runner, cfg: Path, sim: Simulator, tmp_path: Path) -> None:
    sim.faults.cut_download(after_bytes=500, times=50)
    code, _, err = agent("--config", str(cfg), "backup")
    # No restore point made: failed (1), whatever the inventory did.
    assert code == 1 and "Traceback" not in err
    assert [p for p in listing(agent, cfg) if p["kind"] == "config-backup"] == []
    assert stray_files(tmp_path / "var") == []
    assert not [p for p in visible_files(tmp_path / "var") if "config-backup" in str(p)]


def test_wrong_sha256_records_nothing(agent: Runner, cfg: Path, sim: Simulator, tmp_path: Path) -> None:
    sim.faults.wrong_sha256(times=20)  # every listing the client reads lies
    code, _, err = agent("--config", str(cfg), "backup")
    # No config backup: failed (1), though the inventory was refreshed (it used to say 3).
    assert code == 1 and "sha256" in err
    assert [p for p in listing(agent, cfg) if p["kind"] == "config-backup"] == []
    assert stray_files(tmp_path / "var") == []
    assert not [p for p in visible_files(tmp_path / "var") if "config-backup" in str(p)]


def test_hostile_backup_filename_refused(agent: Runner, cfg: Path, sim: Simulator, tmp_path: Path) -> None:
    sim.faults.evil_filename("../../escape.bin")
    code, _, err = agent("--config", str(cfg), "backup")
    # No restore point made: failed (1), whatever the inventory did.
    assert code == 1 and "escape.bin" in err
    assert not list(tmp_path.rglob("escape.bin"))
    assert [p for p in listing(agent, cfg) if p["kind"] == "config-backup"] == []


def test_disk_full_during_download(agent: Runner, tmp_path: Path, small_fs: Path) -> None:
    from backup_agent.sim import SimOptions

    with Simulator(SimOptions(rooms=10, password=PASSWORD, backup_padding_bytes=4 * 1024 * 1024)) as s:
        cfg = write_config(tmp_path, s.url)
        text = cfg.read_text().replace(str(tmp_path / "var"), str(small_fs))
        cfg.write_text(text)
        code, _, err = agent("--config", str(cfg), "backup")
    agent_lines = [line for line in err.splitlines() if line.startswith("backup-agent:")]
    # No restore point made: failed (1), whatever the inventory did.
    assert code == 1 and "disk full" in err and agent_lines and "Traceback" not in "".join(agent_lines)
    assert stray_files(small_fs) == []


def test_missing_secret_is_config_error(agent: Runner, cfg: Path, tmp_path: Path) -> None:
    (tmp_path / "pp").unlink()
    code, _, err = agent("--config", str(cfg), "backup")
    assert code == 2 and "passphrase" in err and err.count("\n") == 1


@pytest.mark.parametrize("job", ["backup", "export"])
def test_missing_password_is_config_error(agent: Runner, cfg: Path, tmp_path: Path, job: str) -> None:
    """Like a missing passphrase: one line, exit 2, before any run (not a run failed twice)."""
    (tmp_path / "pw").unlink()
    code, _, err = agent("--config", str(cfg), job)
    assert code == 2 and "deployments.prod.password" in err and err.count("\n") == 1
    code, out, _ = agent("--config", str(cfg), "status", "--no-probe", "--json")
    assert json.loads(out)[0]["last_runs"] == {}


def test_missing_and_broken_config(agent: Runner, tmp_path: Path) -> None:
    code, _, err = agent("--config", str(tmp_path / "none.toml"), "backup")
    assert code == 2 and "not found" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage]\npath = 1\n")
    code, _, err = agent("--config", str(bad), "backup")
    assert code == 2 and "storage.path" in err and err.count("\n") == 1


def test_secrets_never_leak(agent: Runner, cfg: Path, sim: Simulator, tmp_path: Path) -> None:
    """Every output of good and failing runs, and the catalog, are free of every secret."""
    outputs = [agent("-vv", "--config", str(cfg), "backup", "--json"),
               agent("-vv", "--config", str(cfg), "export", "--json"),
               agent("-vv", "--config", str(cfg), "list", "--json")]
    sim.faults.fail_next(50, status=500)
    outputs.append(agent("-vv", "--config", str(cfg), "backup"))
    (tmp_path / "pw").write_text("Wrong-Pw-91ac")
    outputs.append(agent("-vv", "--config", str(cfg), "export"))
    text = "".join(o + e for _, o, e in outputs)
    sim.faults.clear()
    catalog = (tmp_path / "var" / "catalog.db").read_bytes()
    pins = {r["pin"] for r in sim_rooms(sim) if r.get("pin")}
    assert pins, "the simulated rooms have PINs"
    for secret in (PASSWORD, PASSPHRASE, "Wrong-Pw-91ac"):
        assert secret not in text
        assert secret.encode() not in catalog
    # A PIN is a short run of digits: look for it as a token of its own, not inside the digits
    # of a timestamp, a run id or a sha256 (where a 6-digit PIN turns up by chance).
    for pin in pins:
        token = rf"(?<![0-9A-Za-z]){re.escape(pin)}(?![0-9A-Za-z])"
        assert not re.search(token, text), f"a room PIN ({len(pin)} digits) is in the output"
        assert not re.search(token.encode(), catalog), "a room PIN is in the catalog"


def sim_rooms(sim: Simulator) -> list[dict[str, str]]:
    import requests

    r = requests.get(f"{sim.url}/api/admin/configuration/v1/conference/?limit=5000",
                     auth=("admin", PASSWORD), timeout=5)
    rooms: list[dict[str, str]] = r.json()["objects"]
    return rooms


def test_one_backup_of_a_deployment_at_a_time(agent: Runner, cfg: Path, tmp_path: Path) -> None:
    """A second process holding the job's lock makes this one refuse at once, exit 4."""
    import subprocess
    import sys
    import time

    lock = tmp_path / "var" / "locks" / "run-prod.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
        "f.write('pid 4242'); f.flush(); print('held', flush=True); time.sleep(30)"), str(lock)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, _, err = agent("--config", str(cfg), "backup")
        assert code == 4 and "a run of prod is already running (pid 4242)" in err
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    assert agent("--config", str(cfg), "backup")[0] == 0, "the lock died with its holder"


def test_lock_that_cannot_be_made_is_one_line(agent: Runner, cfg: Path, tmp_path: Path) -> None:
    """A file where the locks directory should be: a store error line, not an internal error."""
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "locks").write_text("in the way")
    code, _, err = agent("--config", str(cfg), "backup")
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("backup-agent: cannot take the lock")
    assert "internal error" not in err


def test_lock_files_are_0600(agent: Runner, cfg: Path, tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        assert agent("--config", str(cfg), "backup")[0] == 0
    finally:
        os.umask(old)
    locks = sorted((tmp_path / "var" / "locks").iterdir())
    # the deployment's run lock, and its restore lock (no backup while a restore runs)
    assert [p.name for p in locks] == ["restore-prod.lock", "run-prod.lock"]
    assert all(stat.S_IMODE(lock.stat().st_mode) == 0o600 for lock in locks)


@pytest.mark.parametrize("kind", ["config-backup", "inventory"])
def test_file_not_recorded_leaves_no_visible_file(agent: Runner, cfg: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """The file is good but the catalog is locked by another process when it is recorded:
    the file goes too, so the store holds nothing the catalog does not vouch for."""
    import sqlite3
    import threading
    import time

    from backup_agent.catalog import open_catalog
    from backup_agent.catalog import sqlite as catalog_mod

    assert agent("--config", str(cfg), "list")[0] == 0
    monkeypatch.setattr(catalog_mod, "BUSY_TIMEOUT_MS", 1000)
    var = tmp_path / "var"
    stop = threading.Event()
    held = threading.Event()

    def ready() -> bool:
        if kind == "inventory":  # recorded at once after it is written: hold from the start
            probe = open_catalog(var / "catalog.db")
            try:
                return bool(probe.runs(limit=1))
            finally:
                probe.close()
        # scrypt (the passphrase check) runs between the file's rename and its record
        return bool([p for p in visible_files(var / "store") if kind in p.parts])

    def hold_once_the_backup_is_visible() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            if ready():
                break
            time.sleep(0.002)
        else:
            return
        holder = sqlite3.connect(var / "catalog.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(1.5)  # recording (waits 1 s) fails; finishing the run (next) does not
        holder.execute("ROLLBACK")
        holder.close()

    t = threading.Thread(target=hold_once_the_backup_is_visible)
    t.start()
    try:
        code, out, err = agent("--config", str(cfg), "backup", "--json")
    finally:
        stop.set()
        t.join()
    assert held.is_set()
    # No config backup recorded is a failed backup (1), whatever the inventory did; a config
    # backup without its inventory is a partial one (3).
    assert code == (1 if kind == "config-backup" else 3), (out, err)
    items = {i["item"]: i for i in json.loads(out)["items"]}
    assert items[kind]["outcome"] == "failed"
    assert "database is locked" in items[kind]["reason"]
    assert [p for p in visible_files(var / "store") if kind in p.parts] == []
    assert stray_files(var / "store") == []
    assert [p for p in listing(agent, cfg) if p["kind"] == kind] == []
