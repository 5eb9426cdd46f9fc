"""The room export job on a big simulated deployment: the agent's export vs a sequential one.

    python3 bench/bench_export.py [--rooms 20000] [--aliases-per-room 2] [--latency-ms 20]

Runs the real ``export`` job (inventory, all conferences, aliases and automatic participants,
JSON + both CSVs written through the store, catalog records) twice against one simulator in
this process, each side in a subprocess of its own so its peak RSS is its own:
- agent: the defaults, pages of 500 and 5 requests in flight;
- baseline: the API's default page size (20), one request at a time.
Targets (issue 2): at least 5x faster than the baseline, peak RSS under 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-admin-pw"  # the simulator's lab credential, not a secret


def worker(url: str, page_size: int, concurrency: int) -> None:
    from backup_agent import config
    from backup_agent.jobs.env import Env
    from backup_agent.jobs.export import export

    os.environ["BENCH_PW"] = PASSWORD
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config.parse({"storage": {"path": tmp}, "deployments": [{
            "name": "bench", "url": url, "password_env": "BENCH_PW", "page_size": page_size,
            "max_concurrency": concurrency}]})
        env = Env.open(cfg)
        start = time.perf_counter()
        run = export(env, cfg.deployment())
        seconds = time.perf_counter() - start
        env.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    info = run.summary.get("room_export", {})
    print(json.dumps({"seconds": seconds, "outcome": run.outcome, "rooms": info.get("rooms"),
                      "rss_mb": rss_mb}))


def side(url: str, page_size: int, concurrency: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, __file__, "--worker", url, str(page_size), str(concurrency)],
                         check=True, capture_output=True, text=True, env=env)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=20000)
    parser.add_argument("--aliases-per-room", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return
    from backup_agent.sim import SimOptions, Simulator

    opts = SimOptions(rooms=args.rooms, aliases_per_room=args.aliases_per_room,
                      latency_ms=args.latency_ms, password=PASSWORD)
    with Simulator(opts) as sim:
        print(f"simulator: {sim.state.room_count:,} rooms, {sim.state.alias_count:,} aliases, "
              f"{args.latency_ms:g} ms latency per request")
        agent = side(sim.url, 500, 5)
        base = side(sim.url, 20, 1)
    for name, r in (("agent (500/page, 5 in flight)", agent), ("baseline (20/page, sequential)", base)):
        print(f"{name:32} {r['seconds']:8.2f} s  peak RSS {r['rss_mb']:6.1f} MB  "
              f"{r['rooms']} rooms, {r['outcome']}")
    ratio = float(base["seconds"]) / float(agent["seconds"])  # type: ignore[arg-type]
    print(f"speed-up: {ratio:.1f}x (target >= 5x); agent peak RSS {agent['rss_mb']:.0f} MB (target < 200 MB)")


if __name__ == "__main__":
    main()
