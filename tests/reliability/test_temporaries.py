"""Hidden temporaries: a backup killed (SIGKILL) while its download is being written leaves
``.NAME.tmp-XXXXXXXX`` in the store; ``verify`` lists it and the next run removes and reports it,
and ends the killed run (left without an outcome) failed."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from backup_agent import config as config_mod
from backup_agent.jobs import runner
from backup_agent.jobs.env import Env
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSWORD, write_config
from tests.reliability import matrix_cell, matrix_table
from tests.reliability.faultproxy import FaultProxy


def _temporaries(store: Path) -> list[Path]:
    return sorted(store.rglob(".*.tmp-*"))


def test_a_write_killed_midway_is_swept_by_the_next_run(tmp_path: Path) -> None:
    opts = SimOptions(rooms=20, password=PASSWORD, backup_request_seconds=0.05,
                      backup_padding_bytes=64 << 10)
    with Simulator(opts) as sim, FaultProxy(sim.url, "trickle", matrix_table.DOWNLOAD) as proxy:
        cfg = write_config(tmp_path, proxy.url)
        store = tmp_path / "var" / "store"
        p = matrix_cell.cli(cfg, "backup")
        deadline = time.monotonic() + 60
        while not _temporaries(store) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)  # mid-write: the download trickles for 90 s
        p.communicate(timeout=30)
        temps = _temporaries(store)
        assert temps, "the killed download left its temporary"
        keys = [t.relative_to(store).as_posix() for t in temps]

        proxy.fault = None
        code, out, _ = matrix_cell.run(cfg, "verify")
        assert all(f"orphan: {k}" in out for k in keys), out
        code, out, err = matrix_cell.run(cfg, "backup", "--json")
        assert code == 0, err
        assert set(keys) <= set(json.loads(out)["summary"]["orphans_removed"])
        assert "a hidden temporary of a write that never finished" in err
        assert _temporaries(store) == []
        code, out, _ = matrix_cell.run(cfg, "verify")
        assert code == 0 and "orphan" not in out, out
    with Env.open(config_mod.load(cfg)) as env:
        runs = env.catalog.runs("prod", job="backup")  # both may have started in one second
    assert sorted(str(r.outcome) for r in runs) == ["completed", "failed"], \
        "the killed run ends failed at the next run, not without an outcome for ever"
    [killed] = [r for r in runs if r.outcome == "failed"]
    assert killed.finished_at is not None and killed.items["backup"][1] == runner.KILLED
