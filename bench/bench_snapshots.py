"""Parallel snapshots: 20 simulated VMs whose snapshots each take 1 s, at parallelism 1, 5, 20.

    python3 bench/bench_snapshots.py [--vms 20] [--seconds 1.0]

Runs the real snapshot job (``backup_agent.jobs.snapshots.take``) through the ``sim`` provider
against the simulator's hypervisor over HTTP. Target (issue 3): at parallelism 20 the whole
set takes under 1.5x the time of a single snapshot. Also times ``backup-agent --help`` beside
``python -c pass`` (issue 3: the CLI must not import any cloud SDK).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, record  # noqa: E402

PASSWORD = "bench-admin-pw"


def take(url: str, tmp: str, vms: list[str], parallel: int) -> tuple[float, str]:
    from backup_agent import config
    from backup_agent.jobs import snapshots
    from backup_agent.jobs.env import Env

    os.environ["BENCH_PW"] = PASSWORD
    nodes = [{"name": n, "role": "management" if i == 0 else "conferencing",
              "provider": "hv", "vm": n} for i, n in enumerate(vms)]
    cfg = config.parse({"storage": {"path": f"{tmp}/p{parallel}"}, "deployments": [{
        "name": "bench", "url": url, "password_env": "BENCH_PW", "nodes": nodes}],
        "providers": {"hv": {"type": "sim", "url": url, "password_env": "BENCH_PW"}}})
    env = Env.open(cfg)
    dep = cfg.deployment()
    start = time.perf_counter()
    run = snapshots.take(env, dep, list(dep.nodes), "bench", parallel=parallel)
    seconds = time.perf_counter() - start
    env.close()
    return seconds, str(run.outcome)


def wall(cmd: list[str], n: int = 5) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--record", metavar="FILE", help="append the README rows to FILE")
    args = parser.parse_args()
    print(machine_line())
    from backup_agent.sim import SimOptions, Simulator

    opts = SimOptions(rooms=10, conferencing_nodes=args.vms - 1, password=PASSWORD,
                      snapshot_seconds=args.seconds)
    with Simulator(opts) as sim, tempfile.TemporaryDirectory() as tmp:
        vms = [opts.management_name, *(w["name"] for w in sim.state.worker_status())]
        single, _ = take(sim.url, tmp, vms[:1], 1)
        print(f"one snapshot: {single:.2f} s")
        took = {}
        for parallel in (1, 5, 20):
            seconds, outcome = take(sim.url, tmp, vms, parallel)
            took[parallel] = seconds
            print(f"{len(vms)} VMs at parallelism {parallel:2}: {seconds:6.2f} s "
                  f"({seconds / single:.2f}x one snapshot) {outcome}")
    exe = str(Path(sys.executable).with_name("backup-agent"))
    cli = [exe] if Path(exe).exists() else [sys.executable, "-m", "backup_agent.cli.main"]
    t_pass, t_help = wall([sys.executable, "-c", "pass"]), wall([*cli, "--help"])
    print(f"python -c pass: {t_pass * 1000:.0f} ms; backup-agent --help: {t_help * 1000:.0f} ms "
          f"(best of 5)")
    record(args.record, f"{len(vms)} VM snapshots of {args.seconds:g} s each through the `sim` "
           "provider", "python3 bench/bench_snapshots.py",
           f"parallelism 1: {took[1]:.1f} s; 5: {took[5]:.1f} s; **20: {took[20]:.2f} s = "
           f"{took[20] / single:.2f}x one snapshot**", "< 1.5x at 20")
    record(args.record, "`backup-agent --help` start-up", "python3 bench/bench_snapshots.py",
           f"{t_help * 1000:.0f} ms vs {t_pass * 1000:.0f} ms for `python -c pass`; no cloud SDK "
           "imported (tested)", "—")


if __name__ == "__main__":
    main()
