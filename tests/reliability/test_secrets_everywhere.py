"""Secrets with sentinel values through every command: stdout, stderr, logs, catalog, bundle."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSPHRASE, PASSWORD, Runner
from tests.jobs.restore_helpers import config_with_nodes

COMMANDS = [("backup",), ("export",), ("list",), ("list", "--json"), ("verify",),
            ("status",), ("status", "--json"), ("evidence",), ("plan",),
            ("plan", "--failed", "management", "--json"), ("drill",), ("restore", "--journal"),
            ("snapshot", "list"), ("prune", "--dry-run", "--json")]


def _everything_written(storage: Path) -> bytes:
    """Every byte under the storage path, bundles and gzip members opened up."""
    blobs = []
    for path in storage.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        blobs.append(data)
        if path.suffix in (".tgz", ".gz"):
            blobs.append(_unpacked(data))
    return b"\n".join(blobs)


def _unpacked(data: bytes) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return b"".join(tar.extractfile(m).read()  # type: ignore[union-attr]
                            for m in tar.getmembers() if m.isfile())
    except (tarfile.TarError, OSError):
        try:
            return gzip.decompress(data)
        except OSError:
            return b""


def test_no_sentinel_secret_anywhere(agent: Runner, sim: Simulator, tmp_path: Path) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    seen = []
    for command in COMMANDS:
        code, out, err = agent("--config", str(cfg), *command)
        assert "internal error" not in err, (command, err)
        seen += [out, err]
    bundle = tmp_path / "var" / "bundle.tgz"
    code, out, err = agent("--config", str(cfg), "support-bundle", "--out", str(bundle))
    assert code == 0, err
    seen += [out, err]
    text = "\n".join(seen)
    written = _everything_written(tmp_path / "var")
    assert b"config-backup" in written and b"room-export" in written, "the search saw the catalog"
    for secret in (PASSWORD, PASSPHRASE):
        assert secret not in text, f"{secret[:4]}... in the output"
        assert secret.encode() not in written, f"{secret[:4]}... in the storage or the bundle"
