"""The export's bytes are pinned: the same node gives the same files, export after export, and
the files this release writes are the ones the release before it wrote (speed work on the
encoder, the CSV writer or the spool must not change a byte: a changed byte makes every
room look changed in the next diff and the next export not 'unchanged')."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, Runner, listing, write_config

# Made by main's export (f95164f) on this simulator: rooms.json's room lines (content_sha256,
# the header has the time in it) and each CSV file whole.
PINNED = {
    "content_sha256": "44f7e74cf7b9a21360800cbf0ab70bafd7c2327493e06480b2ccb53dd4ebd931",
    "vmrs.csv": "236aa2c1b2dea58ac2e92529feb1ebf7db55f1003d51da769ff076fde62eb7ff",
    "auditoriums.csv": "e652d465121131bd449c3406564b83434aaad35a1db4b59733632d279c9c5c5c",
}


def digests(agent: Runner, tmp: Path, url: str) -> dict[str, str]:
    tmp.mkdir()
    cfg = write_config(tmp, url)
    code, _, err = agent("--config", str(cfg), "export")
    assert code == 0, err
    [rp] = [p for p in listing(agent, cfg) if p["kind"] == "room-export"]
    files = {f["name"]: Path(f["path"]) for f in rp["files"]}
    out = {name: hashlib.sha256(files[name].read_bytes()).hexdigest()
           for name in ("vmrs.csv", "auditoriums.csv")}
    lines = files["rooms.json"].read_bytes().split(b"\n")[1:-2]  # header and footer aside
    out["content_sha256"] = hashlib.sha256(b"".join(line.removesuffix(b",") + b"\n"
                                                    for line in lines)).hexdigest()
    json.loads(files["rooms.json"].read_text())  # and it is still one JSON document
    return out


def test_the_export_is_byte_for_byte_the_pinned_one(agent: Runner, tmp_path: Path) -> None:
    opts = SimOptions(rooms=150, aliases_per_room=3, conferencing_nodes=2, seed=7,
                      password=PASSWORD, max_page_size=40)
    with Simulator(opts) as sim:
        first = digests(agent, tmp_path / "a", sim.url)
        again = digests(agent, tmp_path / "b", sim.url)
    assert first == again, "the same node, the same bytes"
    assert first == PINNED
