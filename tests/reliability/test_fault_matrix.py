"""The fault matrix (``matrix.py``): every job against every fault, each cell a real run of
the agent's process against the simulator through a fault-injecting proxy. The whole matrix
runs once for this module; each cell is a test of its own, and the table in
docs/reliability.md must be what the matrix produced (regenerate it with
``python -m tests.reliability.matrix --write-docs``)."""

from __future__ import annotations

import pytest

from tests.reliability import matrix

CELLS = [(j.name, f) for j in matrix.JOBS for f in matrix.FAULTS if matrix.applies(j, f)]
JOBS = {j.name: j for j in matrix.JOBS}
RECOVERS = ("none", "5xx once", "429 once", "catalog locked")  # a retry or a wait gets through
BREAKS = ("5xx always", "cut mid-body", "garbage answer", "stalled past timeout",
          "trickle past deadline")


@pytest.fixture(scope="module")
def cells() -> dict[tuple[str, str], matrix.Cell]:
    return {(c.job, c.fault): c for c in matrix.run_matrix()}


@pytest.mark.parametrize(("job", "fault"), CELLS, ids=[f"{j}-{f}" for j, f in CELLS])
def test_cell(cells: dict[tuple[str, str], matrix.Cell], job: str, fault: str) -> None:
    c, j = cells[(job, fault)], JOBS[job]
    assert c.problems == [], c.problems
    if fault in RECOVERS or (fault == "node down" and j.path is None):
        assert c.exit == 0 and c.outcome in ("completed", None), c.text()
    elif fault in BREAKS or fault == "node down":
        assert c.exit not in (0, None) and c.outcome != "completed", c.text()
        assert c.tag not in ("", "other"), f"the reason is named: {c.text()}\n{c.stderr}"
    elif fault == "store unwritable":
        assert c.exit != 0 and c.outcome != "completed" and c.tag in ("store", "missing"), c.text()
    elif fault == "SIGTERM":
        assert c.exit == 130 and c.outcome in ("failed", "interrupted") and c.tag == "interrupted"
    elif fault == "SIGKILL":
        assert c.exit == -9 and c.outcome != "completed", "the next run completed (problems)"
    elif fault == "disk full":
        assert c.exit == 0 or c.tag == "disk full", c.text()


def test_the_table_in_the_docs_is_what_the_matrix_produces(
        cells: dict[tuple[str, str], matrix.Cell]) -> None:
    produced = matrix.render([cells[(j.name, f)] for j in matrix.JOBS for f in matrix.FAULTS])
    assert matrix.doc_table(matrix.DOC.read_text()) == produced, \
        "docs/reliability.md is stale: python -m tests.reliability.matrix --write-docs"
