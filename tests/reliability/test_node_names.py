"""Defect 2: Conferencing Node names from the Management Node are data, never file paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_agent.privfiles import confined, safe_file_name
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, Runner, write_config


def hostile_names(tmp_path: Path) -> list[str]:
    """An absolute name and one that climbs out of any directory, both aimed at tmp_path."""
    outside = tmp_path / "outside"
    return [str(outside / "abs-node"), "../" * 30 + str(outside / "rel-node").lstrip("/")]


@pytest.fixture
def hostile_sim(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(SimOptions(rooms=4, conferencing_nodes=1, password=PASSWORD,
                              backup_request_seconds=0.05)) as s:
        for name in hostile_names(tmp_path):
            s.state.add_node(name, "Oslo")
        yield s


def test_drill_writes_no_file_outside_its_directory(agent: Runner, hostile_sim: Simulator,
                                                    tmp_path: Path) -> None:
    cfg = write_config(tmp_path, hostile_sim.url)
    for job in ("backup", "export"):
        assert agent("--config", str(cfg), job)[0] == 0
    code, out, err = agent("--config", str(cfg), "drill", "--scenario", "nodes-lost", "--json")
    assert not (tmp_path / "outside").exists(), "a node name became a path outside the drill"
    assert code == 0, (out, err)
    files = json.loads(out)["summary"]["verification"]["deployment_files"]
    assert set(hostile_names(tmp_path)) <= set(files) and all(files.values())


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", ".hidden", "..", ".", "", "a/b",
                                  "a\0b", "\u202eexe.txt", "x" * 500, "ok-name_1.2"])
def test_a_name_maps_to_one_plain_file_inside(tmp_path: Path, name: str) -> None:
    path = confined(tmp_path, name, ".xml")
    assert path.parent == tmp_path and not path.name.startswith(".")
    assert len(path.name) < 120 and "/" not in path.name and "\0" not in path.name
    if name == "ok-name_1.2":
        assert path.name == "ok-name_1.2.xml", "a plain name stays readable"


def test_different_names_never_share_a_file() -> None:
    assert safe_file_name("a/b") != safe_file_name("a_b") != safe_file_name("a b")
