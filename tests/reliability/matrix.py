"""The fault matrix: every job against every fault, each cell a real run of the CLI.

Each cell is a ``backup-agent`` process run on its own copy of a seeded storage (two config
backups, a room export, an inventory) against the simulator over HTTP, through a
:class:`~tests.reliability.faultproxy.FaultProxy` that puts the fault on the request that
matters to the job (the backup download, the room list, the restore's upload). What a cell
records: the exit code, the run's outcome in the catalog and a short tag of its reason; what
it checks: no traceback, no secret in stdout, stderr or any file of the storage, ``verify``
passing afterwards (nothing recorded with missing or wrong bytes), no restore point made by a
run that did not complete and none missing from one that did, no run left without an
outcome (but after SIGKILL, where the next run must complete).

``python -m tests.reliability.matrix`` prints the table; ``--write-docs`` writes it into
docs/reliability.md between its markers (``test_fault_matrix.py`` fails when they differ).
The jobs, the faults and what a cell records are :mod:`tests.reliability.matrix_table`; running
one cell, :mod:`tests.reliability.matrix_cell`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.reliability.matrix_cell import ROOT, bench, run_cell
from tests.reliability.matrix_table import FAULTS, JOBS, NOT_APPLICABLE, SLOW, Cell

DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- fault-matrix:begin -->", "<!-- fault-matrix:end -->"


def run_matrix(workers: int = 8, only: str | None = None) -> list[Cell]:
    """Every cell (or those whose ``job:fault`` contains ``only``), ``workers`` at a time."""
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp, bench(Path(tmp)) as b, \
            ThreadPoolExecutor(workers) as pool:
        cells = [(job, fault) for job in JOBS for fault in FAULTS
                 if only is None or only in f"{job.name}:{fault}"]
        # The slowest first, so that none of them starts last and holds the whole run.
        order = sorted(cells, key=lambda jf: (jf[1] not in SLOW, not jf[0].store))
        done = dict(zip(order, pool.map(lambda jf: run_cell(b, jf[0], jf[1], Path(tmp)), order),
                        strict=True))
        return [done[jf] for jf in cells]


def render(cells: list[Cell]) -> str:
    by = {(c.job, c.fault): c.text() for c in cells}
    lines = ["| job | " + " | ".join(FAULTS) + " |", "|---" * (len(FAULTS) + 1) + "|"]
    lines += ["| " + " | ".join([j.name, *(by[(j.name, f)] for f in FAULTS)]) + " |" for j in JOBS]
    lines += ["", "Not run (n/a): faults on the Management Node or its address for jobs that do "
              "not reach it; provider faults for jobs that take no snapshot; "
              + "; ".join(f"{f} for {j}: {why}" for (j, f), why in NOT_APPLICABLE.items()) + "."]
    return "\n".join(lines)


def doc_table(doc: str) -> str:
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    return doc[start:end].strip("\n")


def write_docs(table: str) -> None:
    doc = DOC.read_text()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:start] + "\n" + table + "\n" + doc[end:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.reliability.matrix", description=__doc__)
    ap.add_argument("--write-docs", action="store_true", help=f"write the table into {DOC.name}")
    ap.add_argument("--workers", type=int, default=8, help="cells at once (most of a copy "
                    "cell's time is its retries' pauses)")
    ap.add_argument("--only", metavar="JOB:FAULT", help="only the cells whose JOB:FAULT contains this")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    cells = run_matrix(args.workers, args.only)
    if args.only:
        for c in cells:
            print(f"{c.job} x {c.fault}: {c.text()} ({c.seconds:.1f} s)\n{c.stderr}")
    else:
        print(render(cells))
    bad = [c for c in cells if c.problems]
    for c in bad:
        print(f"PROBLEM {c.job} x {c.fault}: {'; '.join(c.problems)}", file=sys.stderr)
    ran = sum(c.exit is not None for c in cells)
    for c in sorted(cells, key=lambda c: -c.seconds)[:8]:
        print(f"slowest: {c.job} x {c.fault}: {c.seconds:.1f} s", file=sys.stderr)
    print(f"\n{ran} cells run in {time.monotonic() - t0:.1f} s, {len(bad)} with problems",
          file=sys.stderr)
    if args.write_docs and not args.only:
        write_docs(render(cells))
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    sys.exit(main())
