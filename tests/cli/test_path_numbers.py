"""The restore command a plan prints walks the very path the plan numbers, in every situation.

``plan --down-since T`` (nothing declared lost: the probe found the Management Node down)
printed ``restore --path N`` without ``--down-since``; restore then cut the restore points at
the last contact instead of T, planned again with a snapshot T had left out, and path N was
another path.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backup_agent.sim import Simulator
from tests.jobs.conftest import Runner, agent, sim
from tests.jobs.restore_helpers import config_with_nodes

__all__ = ["agent", "sim"]  # fixtures used below


def printed_commands(path: dict) -> list[str]:  # type: ignore[type-arg]
    """The ``backup-agent restore ...`` commands in a path's steps, as printed."""
    found = []
    for step in path["steps"]:
        found += re.findall(r"`(backup-agent restore [^`]*)`", step["detail"])
    return found


@pytest.mark.parametrize("declare", [[], ["--failed", "management"]])
def test_the_printed_restore_command_walks_the_planned_path(
        agent: Runner, sim: Simulator, tmp_path: Path, declare: list[str]) -> None:
    cfg = config_with_nodes(tmp_path, sim)
    assert agent("--config", str(cfg), "backup")[0] == 0
    time.sleep(1.1)  # times are kept to the second: the declared time sits between the two
    down_since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.1)
    assert agent("--config", str(cfg), "snapshot", "create", sim.opts.management_name)[0] == 0
    sim.state.set_management_down("close")
    code, out, err = agent("--config", str(cfg), "plan", *declare, "--down-since", down_since,
                           "--json")
    assert code == 0, err
    paths = json.loads(out)["paths"]
    assert "revert-snapshot" not in [p["kind"] for p in paths], "the snapshot is after T"
    assert [p["number"] for p in paths] == list(range(1, len(paths) + 1))
    for number, path in enumerate(paths, 1):
        commands = [c for c in printed_commands(path) if "--dry-run" in c]
        for command in commands:
            argv = shlex.split(command)[1:]
            code, out, err = agent("--config", str(cfg), *argv, "--json")
            walked = json.loads(out) if out.strip() else {}
            assert (walked.get("path"), walked.get("kind")) == (number, path["kind"]), \
                (command, err)
