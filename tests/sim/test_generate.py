"""Seeded generation: deterministic, complete, and fast enough for the export benchmark."""

from __future__ import annotations

import time

import pytest

from backup_agent.sim import SimOptions, Simulator
from backup_agent.sim.generate import populate, service_types
from backup_agent.sim.model import Config


def _build(**options: object) -> Config:
    config = Config()
    populate(config, SimOptions(**options))  # type: ignore[arg-type]
    return config


def test_same_seed_same_deployment_other_seed_other() -> None:
    assert _build(rooms=300, seed=3).dump() == _build(rooms=300, seed=3).dump()
    assert _build(rooms=300, seed=3).dump() != _build(rooms=300, seed=4).dump()


def test_counts_match_the_options() -> None:
    config = _build(rooms=100, aliases_per_room=3, auditoriums=7, conferencing_nodes=5,
                    automatic_participants=4)
    counts = config.counts()
    assert counts["conference"] == 100 and counts["conference_alias"] == 300
    assert counts["worker_vm"] == 5 and counts["automatic_participant"] == 4
    types = [r["service_type"] for r in config.rows("conference")]
    assert types.count("lecture") == 7 and types.count("two_stage_dialing") == 1
    assert set(types) == {"conference", "lecture", "two_stage_dialing", "test_call", "media_playback"}
    aliases = [a["alias"] for a in config.rows("conference_alias")]
    assert len(set(aliases)) == len(aliases), "aliases are unique"
    names = [r["name"] for r in config.rows("conference")]
    assert len(set(names)) == len(names), "names are unique"


def test_small_and_empty_deployments() -> None:
    assert service_types(SimOptions(rooms=2)) == ["conference", "conference"]
    assert _build(rooms=0, conferencing_nodes=0).counts()["conference"] == 0
    sim = Simulator(SimOptions(empty=True))
    try:
        assert sim.state.counts()["conference"] == 0 and sim.state.counts()["worker_vm"] == 0
    finally:
        sim.stop()


def test_pins_are_valid_where_set() -> None:
    for row in _build(rooms=500).rows("conference"):
        if row["guest_pin"]:
            assert row["pin"] and row["allow_guests"] and row["pin"] != row["guest_pin"]
        for pin in (row["pin"], row["guest_pin"]):
            digits = pin.removesuffix("#")  # a real node accepts a terminal '#'
            assert pin == "" or (digits.isdigit() and 4 <= len(digits) <= 20)
    assert any(row["pin"].endswith("#") for row in _build(rooms=500).rows("conference"))


def test_twenty_thousand_rooms_build_fast() -> None:
    start = time.perf_counter()
    config = _build(rooms=20_000, aliases_per_room=2)
    elapsed = time.perf_counter() - start
    assert config.counts()["conference_alias"] == 40_000
    assert elapsed < 6.0, f"took {elapsed:.1f} s (target: a couple of seconds; 2 shared cores)"


@pytest.mark.parametrize("bad", [{"backup_create_status": 201}, {"download_mode": "ftp"},
                                 {"rooms": -1}, {"default_page_size": 0}, {"latency_ms": -1}])
def test_bad_options_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        SimOptions(**bad)
