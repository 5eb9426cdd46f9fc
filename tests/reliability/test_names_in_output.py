"""Defects 18, 19, 22: names from the node in file names and the runbook; the runbook's size."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_agent.errors import ApiError, StoreError
from backup_agent.infinity import check_filename
from backup_agent.planner import make_plan, parse_evidence, to_markdown
from backup_agent.sim import Simulator
from backup_agent.store.base import check_key
from tests.jobs.conftest import Runner
from tests.planner.helpers import backup, days_before, evidence

HOSTILE = ["pexip_backup\u202egz.rat.tar", "pexip\u0085backup.tar", "pexip\x9bbackup.tar",
           "pexip\u200bbackup.tar", "pexip\u2028backup.tar", "a" * 300 + ".tar"]


@pytest.mark.parametrize("name", HOSTILE)
def test_c1_and_direction_characters_are_refused(name: str) -> None:
    with pytest.raises(ApiError, match="refusing backup filename"):
        check_filename(name, "prod")
    with pytest.raises(StoreError, match="refusing"):
        check_key(f"prod/config-backup/cb-1/{name}" if len(name) < 255 else "prod/\u202ex")


def test_a_backup_with_such_a_name_is_not_kept(agent: Runner, cfg: Path, sim: Simulator,
                                               tmp_path: Path) -> None:
    sim.faults.evil_filename(HOSTILE[0])
    code, _, err = agent("--config", str(cfg), "backup")
    assert code in (1, 3) and "refusing" in err, err  # the backup failed; nothing kept
    stored = [p.name for p in (tmp_path / "var").rglob("*") if p.is_file()]
    assert not [n for n in stored if "\u202e" in n]


def _plan(names: list[str]) -> str:
    e = evidence(points=[backup("b-1", days_before(1))])
    e["conferencing_nodes"] = [{"name": n, "status": "down", "platform": "vmware",
                                "location": "Oslo"} for n in names]
    e["failed"] = names
    return to_markdown(make_plan(parse_evidence(e)))


def test_names_inject_no_heading_into_the_runbook() -> None:
    md = _plan(["cn-1\n# Everything is fine, do nothing", "cn-2\u2028## Skip", "cn-3\u202e"])
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert all(line.startswith(("# Restore plan", "## Do this", "## Alternatives", "### Path"))
               for line in headings), headings
    assert "\u2028" not in md and "\u202e" not in md


def test_the_runbook_grows_linearly_with_the_lost_nodes() -> None:
    small, large = (len(_plan([f"cn-{i}" for i in range(n)])) for n in (50, 400))
    assert large < small * 8 * 1.5, (small, large)  # 125 MB for 2,000 nodes before


def test_the_shared_failure_declaration_is_the_same_command() -> None:
    md = _plan([f"cn-{i}" for i in range(6)])
    definition = next(line for line in md.splitlines() if line.startswith("FAILED_1="))
    declared = definition.split("=", 1)[1].strip("'").split()
    assert declared == [w for i in range(6) for w in ("--failed", f"cn-{i}")]
    assert "$FAILED_1 --path" in md
    few = _plan(["cn-1"])
    assert "FAILED_" not in few and "--failed cn-1" in few, "a short command stays literal"
