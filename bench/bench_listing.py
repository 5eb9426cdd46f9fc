"""Listing all conferences and aliases of a big simulated deployment: fast lister vs sequential.

    python3 bench/bench_listing.py [--rooms 20000] [--aliases-per-room 2] [--latency-ms 20]

The fast lister asks for large pages (the deployment's page_size, 500) and fetches the
remaining offsets concurrently within the bound of 5 requests in flight; the baseline follows
``meta.next`` one page at a time at the API's default page size (20). Both run in the same
run against the same simulator (in this process), each in a subprocess of its own so that
the peak RSS printed is that side's alone. Targets: at least 5x faster, peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, peak_rss_mb, record  # noqa: E402

PASSWORD = "bench-admin-pw"  # the simulator's lab credential, not a secret
RESOURCES = ("configuration/v1/conference/", "configuration/v1/conference_alias/")


def worker(url: str, mode: str) -> None:
    """Child: list conferences and aliases with one mode; print counts, seconds and peak RSS."""
    from backup_agent.config import Deployment, Secret
    from backup_agent.infinity import InfinityClient

    os.environ["BENCH_PW"] = PASSWORD
    dep = Deployment(name="bench", url=url, password=Secret("bench.password", env="BENCH_PW"))
    with InfinityClient(dep) as client:
        start = time.perf_counter()
        counts = [len(client.list_all(r, sequential=(mode == "sequential"))) for r in RESOURCES]
        seconds = time.perf_counter() - start
    rss_mb = peak_rss_mb()  # its own VmHWM: ru_maxrss carried the simulator parent's peak
    print(json.dumps({"seconds": seconds, "counts": counts, "rss_mb": rss_mb}))


def run(url: str, mode: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, __file__, "--worker", url, mode], check=True,
                         capture_output=True, text=True, env=env)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=20000)
    parser.add_argument("--aliases-per-room", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--record", metavar="FILE", help="append the README row to FILE")
    args = parser.parse_args()
    print(machine_line())

    from backup_agent.sim import SimOptions, Simulator

    opts = SimOptions(rooms=args.rooms, aliases_per_room=args.aliases_per_room,
                      latency_ms=args.latency_ms, password=PASSWORD)
    started = time.perf_counter()
    with Simulator(opts) as sim:
        print(f"simulator: {args.rooms:,} rooms, {args.rooms * args.aliases_per_room:,} aliases, "
              f"{args.latency_ms:g} ms per request (ready in {time.perf_counter() - started:.1f} s)")
        fast = run(sim.url, "fast")
        print(f"  fast (page 500, 5 in flight):     {fast['seconds']:7.2f} s  counts {fast['counts']}"
              f"  peak RSS {fast['rss_mb']:.1f} MB")
        slow = run(sim.url, "sequential")
        print(f"  sequential (page 20, meta.next):  {slow['seconds']:7.2f} s  counts {slow['counts']}"
              f"  peak RSS {slow['rss_mb']:.1f} MB")
    if fast["counts"] != slow["counts"]:
        sys.exit("the two listers disagree on the counts")
    ratio = float(slow["seconds"]) / float(fast["seconds"])  # type: ignore[arg-type]
    print(f"fast is {ratio:.1f}x faster (target >= 5x); peak RSS {fast['rss_mb']:.1f} MB "
          f"(target < 200 MB)")
    record(args.record, f"listing alone (conferences + aliases), {args.rooms:,} rooms, "
           f"{args.latency_ms:g} ms per request", "python3 bench/bench_listing.py",
           f"{fast['seconds']:.2f} s vs {slow['seconds']:.1f} s sequential at page 20 "
           f"({ratio:.1f}x), peak RSS {fast['rss_mb']:.0f} MB", ">= 5x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        main()
