"""Config backups against the simulator: both readings, cuts, wrong sha256, hostile names, restore."""

from __future__ import annotations

import errno
import hashlib
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from backup_agent.errors import ApiError, IntegrityError
from backup_agent.infinity import BackupInfo, FileSink, InfinityClient, Package, check_filename
from tests.infinity.conftest import PASSPHRASE, Sleeps
from tests.infinity.peers import Handler, LocalServer

PAD = 2 * 1024 * 1024 + 1000  # a few chunks of 1 MiB per download


def _backup(client: InfinityClient, background: bool = False) -> BackupInfo:
    handle = client.create_backup(PASSPHRASE, background=background, poll_interval=0.02)
    return client.find_new_backup(handle, poll_interval=0.02)


@pytest.mark.parametrize("status", [200, 202])
@pytest.mark.parametrize("mode", ["item", "request"])
@pytest.mark.parametrize("background", [False, True])
def test_create_list_download_in_every_reading(sim_factory: Any, make_client: Any, tmp_path: Path,
                                               status: int, mode: str, background: bool) -> None:
    sim = sim_factory(rooms=20, backup_create_status=status, download_mode=mode,
                      backup_padding_bytes=PAD, backup_request_seconds=0.05)
    client = make_client(sim.url)
    old = _backup(client)  # an older backup must not be taken for the new one
    info = _backup(client, background=background)
    assert info.filename != old.filename
    assert [b.filename for b in client.list_backups()] == [old.filename, info.filename]
    assert info.version == "38.1" and info.build and info.date and info.sha256sum
    target = tmp_path / "b.bin"
    seen: list[tuple[int, int]] = []
    with open(target, "w+b") as f:
        size, digest = client.download_backup(info, FileSink(f), progress=lambda d, t: seen.append((d, t)))
    data = target.read_bytes()
    assert size == len(data) == info.size > PAD
    assert digest == hashlib.sha256(data).hexdigest() == info.sha256sum
    assert seen[-1] == (info.size, info.size) and len(seen) >= 3  # streamed in chunks


def test_cut_download_is_retried_from_the_start(sim_factory: Any, make_client: Any, tmp_path: Path,
                                                sleeps: Sleeps) -> None:
    sim = sim_factory(rooms=10, backup_padding_bytes=PAD)
    client = make_client(sim.url)
    info = _backup(client)
    sim.faults.cut_download(after_bytes=PAD // 2, times=2)
    with open(tmp_path / "b.bin", "w+b") as f:
        size, digest = client.download_backup(info, FileSink(f))
    data = (tmp_path / "b.bin").read_bytes()
    assert size == info.size == len(data)  # nothing of the broken attempts was left in front
    assert hashlib.sha256(data).hexdigest() == digest == info.sha256sum
    assert len(sleeps.calls) == 2


def test_download_cut_every_time_fails_clearly(sim_factory: Any, make_client: Any, tmp_path: Path) -> None:
    sim = sim_factory(rooms=10, backup_padding_bytes=PAD)
    client = make_client(sim.url, retries=2)
    info = _backup(client)
    sim.faults.cut_download(after_bytes=1000, times=10)
    target = tmp_path / "b.bin"
    with open(target, "w+b") as f, pytest.raises(ApiError) as err:
        client.download_backup(info, FileSink(f))
    assert f"the download of backup {info.filename} broke off 3 times" in str(err.value)
    assert target.stat().st_size == 0  # nothing half-written that could pass for the backup


def test_wrong_sha256_is_an_integrity_error(sim_factory: Any, make_client: Any, tmp_path: Path) -> None:
    sim = sim_factory(rooms=10)
    client = make_client(sim.url)
    handle = client.create_backup(PASSPHRASE)
    sim.faults.wrong_sha256(1)
    info = client.find_new_backup(handle)
    with open(tmp_path / "b.bin", "w+b") as f, pytest.raises(IntegrityError) as err:
        client.download_backup(info, FileSink(f))
    assert "corrupted in transit" in str(err.value) and info.filename in str(err.value)


def test_listing_size_mismatch_is_an_integrity_error(sim_factory: Any, make_client: Any,
                                                      tmp_path: Path) -> None:
    sim = sim_factory(rooms=10)
    client = make_client(sim.url)
    info = _backup(client)
    lying = BackupInfo(**{**info.__dict__, "size": info.size - 1})
    with open(tmp_path / "b.bin", "w+b") as f, pytest.raises(IntegrityError, match="bytes"):
        client.download_backup(lying, FileSink(f))


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.tar", "a\\b.tar", "..", "x\x00y", "x\ny", ""])
def test_hostile_filenames_are_refused(name: str) -> None:
    with pytest.raises(ApiError, match="refusing backup filename"):
        check_filename(name, "prod")


def test_hostile_filename_from_the_api_writes_nothing(sim_factory: Any, make_client: Any,
                                                      tmp_path: Path) -> None:
    sim = sim_factory(rooms=10)
    client = make_client(sim.url)
    sim.faults.evil_filename("../../etc/passwd")
    info = _backup(client)
    assert info.filename == "../../etc/passwd"
    target = tmp_path / "keep.bin"
    target.write_bytes(b"existing")
    with open(target, "r+b") as f, pytest.raises(ApiError, match="refusing backup filename"):
        client.download_backup(info, FileSink(f))
    assert target.read_bytes() == b"existing"
    with pytest.raises(ApiError, match="refusing"):
        client.delete_backup(info.filename)


class DiskFull(io.BytesIO):
    def write(self, data: Any) -> int:
        if self.tell() + len(data) > 1024 * 1024:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_disk_full_propagates_as_oserror(sim_factory: Any, make_client: Any) -> None:
    sim = sim_factory(rooms=10, backup_padding_bytes=PAD)
    client = make_client(sim.url)
    info = _backup(client)
    with pytest.raises(OSError) as err:
        client.download_backup(info, FileSink(DiskFull()))
    assert err.value.errno == errno.ENOSPC


def test_restore_brings_the_rooms_back_and_delete_removes(sim_factory: Any, make_client: Any,
                                                          tmp_path: Path) -> None:
    source = sim_factory(rooms=25, aliases_per_room=2)
    client = make_client(source.url)
    info = _backup(client)
    path = tmp_path / "b.bin"
    with open(path, "w+b") as f:
        client.download_backup(info, FileSink(f))
    empty = sim_factory(empty=True)
    target = make_client(empty.url)
    assert target.conferences() == []
    with pytest.raises(ApiError, match="HTTP 400") as err:
        target.restore_backup(Package.from_path(path), "wrong-" + PASSPHRASE)
    assert PASSPHRASE not in str(err.value)
    target.restore_backup(Package.from_path(path), PASSPHRASE)
    assert sorted(r["name"] for r in target.conferences()) == sorted(r["name"] for r in client.conferences())
    assert len(target.aliases()) == 50
    client.delete_backup(info.filename)
    assert info.filename not in [b.filename for b in client.list_backups()]


class RequestNode:
    """backup_create answers 202; the backup_request stays in progress or fails."""

    def __init__(self, final: str | None) -> None:
        self.final, self.polls = final, 0

    def __call__(self, h: Handler) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(h.path).path
        h.body()
        if path.endswith("backup_create/"):
            return 202, {"Location": "/api/admin/status/v1/backup_request/7/"}, b'{"status": "success"}'
        if path.endswith("backup_request/7/"):
            self.polls += 1
            state = self.final if (self.final and self.polls > 2) else "in_progress"
            msg = "disk full on the Management Node" if state == "failed" else ""
            return 200, {}, json.dumps({"state": state, "message": msg,
                                        "resource_uri": path}).encode()
        meta = {"limit": 20, "offset": 0, "total_count": 0, "next": None}
        return 200, {}, json.dumps({"meta": meta, "objects": []}).encode()


def test_failed_backup_request_reports_its_message(make_client: Any) -> None:
    with LocalServer(RequestNode("failed")) as srv, pytest.raises(ApiError) as err:
        make_client(srv.url).create_backup(PASSPHRASE, background=True, poll_interval=0.01)
    assert "the backup request failed on the Management Node: disk full" in str(err.value)


def test_backup_request_that_never_finishes_times_out(make_client: Any) -> None:
    node = RequestNode(None)
    with LocalServer(node) as srv, pytest.raises(ApiError, match=r"did not finish within 0\.2 s"):
        make_client(srv.url).create_backup(PASSPHRASE, background=True, timeout=0.2,
                                           poll_interval=0.01)
    assert node.polls >= 2
