"""The fault matrix (``matrix.py``; its jobs and faults in ``matrix_table.py``): every job
against every fault, each cell a real run of the agent's process against the simulator
through a fault-injecting proxy. The whole matrix runs once for this module; each cell is a
test of its own, and the table in docs/reliability.md must be what the matrix produced
(regenerate it with ``python -m tests.reliability.matrix --write-docs``)."""

from __future__ import annotations

import pytest

from tests.reliability import matrix, matrix_table

CELLS = [(j.name, f) for j in matrix_table.JOBS for f in matrix_table.FAULTS
         if matrix_table.applies(j, f)]
JOBS = {j.name: j for j in matrix_table.JOBS}
RECOVERS = ("none", "5xx once", "429 once", "429 no Retry-After", "catalog locked")  # a retry
BREAKS = ("5xx always", "cut mid-body", "garbage answer", "stalled past timeout",  # or a wait
          "trickle past deadline")                                                # gets through
#: Faults that fail the run at once, with their reason's tag: no retry could help.
FAST = {"Retry-After past cap": "Retry-After cap", "TLS untrusted": "TLS", "TLS wrong host": "TLS",
        "DNS failure": "DNS",
        "provider task failing": "task failed", "provider timeout": "provider timeout"}
#: Jobs that read a stored file's bytes: wrong ones are refused, named as such.
READS_STORED = ("verify", "restore", "drill", "copy")


@pytest.fixture(scope="module")
def cells() -> dict[tuple[str, str], matrix_table.Cell]:
    return {(c.job, c.fault): c for c in matrix.run_matrix()}


@pytest.mark.parametrize(("job", "fault"), CELLS, ids=[f"{j}-{f}" for j, f in CELLS])
def test_cell(cells: dict[tuple[str, str], matrix_table.Cell], job: str, fault: str) -> None:
    c, j = cells[(job, fault)], JOBS[job]
    assert c.problems == [], c.problems
    if j.store and fault == "cut mid-body":  # the S3 client sends the PUT again (idempotent)
        assert c.exit == 0 and c.outcome == "completed", c.text()
    elif j.store and fault == "Retry-After past cap":  # the S3 client ignores Retry-After:
        assert c.exit != 0 and c.outcome == "failed" and c.tag == "HTTP 429", c.text()
        assert c.run_seconds < 120, f"{c.run_seconds:.1f} s"  # its retries, then failed
    elif fault in RECOVERS or (fault == "node down" and j.path is None):
        assert c.exit == 0 and c.outcome in ("completed", None), c.text()
    elif fault in BREAKS or fault == "node down":
        assert c.exit not in (0, None) and c.outcome != "completed", c.text()
        assert c.tag not in ("", "other"), f"the reason is named: {c.text()}\n{c.stderr}"
    elif fault in FAST:
        assert c.exit not in (0, None) and c.outcome != "completed", c.text()
        assert c.tag == FAST[fault], f"the reason is named: {c.text()}\n{c.stderr}"
        # Fail fast: not 5 waits of 120 s, not a retry storm (the retry policy: retries = 1).
        # Measured 1-3 s alone, up to 21 s with the matrix under a load average of 7.
        assert c.run_seconds < 60, f"{c.run_seconds:.1f} s"
        if fault.startswith("TLS"):
            # The inventory's five reads go at once: five handshakes, none retried.
            assert c.handshakes <= 6, f"{c.handshakes} TLS handshakes: a retry storm"
            named = sum("TLS" in line for line in _own_lines(c.stderr))
            # A copy names each restore point it did not copy (the later ones "not tried").
            assert named == 1 or (j.store and named > 0), c.stderr
        if fault == "TLS wrong host":  # the CA is trusted: the hint must not blame ca_bundle
            line = next(line for line in _own_lines(c.stderr) if "TLS" in line)
            assert "not for this host" in line and "ca_bundle" not in line, line
    elif fault == "wrong sha256":
        # A download is not recorded (checked for every cell); a stored file is refused.
        if j.path == matrix_table.DOWNLOAD or job in READS_STORED:
            assert c.exit != 0 and c.outcome != "completed" and c.tag == "wrong hash", c.text()
        else:  # export takes a new one; prune needs no bytes
            assert c.exit == 0 and c.outcome == "completed", c.text()
    elif fault == "store unwritable":
        assert c.exit != 0 and c.outcome != "completed" and c.tag in ("store", "missing"), c.text()
    elif fault == "SIGTERM":
        assert c.exit == 130 and c.outcome in ("failed", "interrupted") and c.tag == "interrupted"
    elif fault == "SIGKILL":
        assert c.exit == -9 and c.outcome != "completed", "the next run completed (problems)"
    elif fault == "disk full":
        assert c.exit == 0 or c.tag == "disk full", c.text()


def _own_lines(stderr: str) -> list[str]:
    """The agent's own error lines (``backup-agent: ...``), not the log's."""
    return [line for line in stderr.splitlines() if line.startswith("backup-agent:")]


def test_the_table_in_the_docs_is_what_the_matrix_produces(
        cells: dict[tuple[str, str], matrix_table.Cell]) -> None:
    produced = matrix.render([cells[(j.name, f)] for j in matrix_table.JOBS for f in matrix_table.FAULTS])
    assert matrix.doc_table(matrix.DOC.read_text()) == produced, \
        "docs/reliability.md is stale: python -m tests.reliability.matrix --write-docs"
