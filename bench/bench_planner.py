"""Planner benchmark: 500 nodes and 10,000 restore points (target: plan in under 200 ms).

    python3 bench/bench_planner.py [--runs 30] [--nodes 500] [--points 10000]

Prints median and p95 wall milliseconds (and median CPU milliseconds) for parsing the evidence,
for planning, and for all of parse, plan and runbook. A site of 50 Conferencing Nodes is down
with the Management Node, so the plan has many redeploy paths as well as the Management Node's
alternatives.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, record

from backup_agent.planner import make_plan, parse_evidence, to_markdown

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
DOWN_SINCE = NOW - timedelta(days=6)


def _ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def build(nodes: int, points: int) -> dict[str, Any]:
    """An evidence document of ``nodes`` Conferencing Nodes and ``points`` restore points."""
    cns = [{"name": f"cn-{i:04d}", "status": "down" if i < 50 else "up",
            "platform": ("vmware", "aws", "azure")[i % 3], "location": f"site-{i // 50}"}
           for i in range(nodes)]
    rps: list[dict[str, Any]] = []
    for i in range(points):
        taken = _ts(DOWN_SINCE - timedelta(minutes=7 * i + 1))
        kind = i % 3
        if kind == 0:
            rps.append({"kind": "config-backup", "id": f"b-{i}", "taken_at": taken,
                        "version": "38.1" if i % 2 else "37.2", "verified": i % 5 != 0})
        elif kind == 1:
            rps.append({"kind": "snapshot", "id": f"s-{i}", "taken_at": taken, "version": "38.1",
                        "node": "mgr01" if i % 4 else f"cn-{i % nodes:04d}", "provider": "vsphere",
                        "available": i % 7 != 0})
        else:
            rps.append({"kind": "room-export", "id": f"e-{i}", "taken_at": taken, "rooms": 1234})
    return {"deployment": "prod", "now": _ts(NOW), "software_version": "38.1",
            "management_node": {"name": "mgr01", "status": "down", "platform": "vmware",
                                "down_since": _ts(DOWN_SINCE)},
            "conferencing_nodes": cns, "restore_points": rps}


def measure(fn: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """Median and p95 wall time, and median CPU time, of ``fn`` in milliseconds.

    CPU time is printed too because on a shared machine the wall time mostly measures the
    neighbours.
    """
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    wall.sort()
    p95 = wall[min(len(wall) - 1, round(0.95 * (len(wall) - 1)))]
    return statistics.median(wall), p95, statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--record", metavar="FILE", help="append the README row to FILE")
    args = parser.parse_args()
    print(machine_line())
    doc = build(args.nodes, args.points)
    evidence = parse_evidence(doc)
    plan = make_plan(evidence)
    print(f"{args.nodes} nodes, {args.points} restore points, {len(plan.paths)} paths, "
          f"{args.runs} runs")
    figures = {}
    for name, fn in (("parse evidence", lambda: parse_evidence(doc)),
                     ("make_plan", lambda: make_plan(evidence)),
                     ("parse + plan + markdown", lambda: to_markdown(make_plan(parse_evidence(doc))))):
        median, p95, cpu = measure(fn, args.runs)
        figures[name] = median
        print(f"{name:>24}: median {median:7.1f} ms   p95 {p95:7.1f} ms   (cpu median {cpu:6.1f} ms)")
    record(args.record, f"planning for {args.nodes} nodes and {args.points:,} restore points",
           "python3 bench/bench_planner.py", f"make_plan median **{figures['make_plan']:.1f} ms**; "
           f"parse + plan + Markdown median {figures['parse + plan + markdown']:.0f} ms", "< 200 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
