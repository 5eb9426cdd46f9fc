"""Download of a 1 GiB config backup from the simulator: the client vs ``curl -o``, same run.

    python3 bench/bench_download.py [--size-mib 1024] [--rounds 3] [--before DIR] [--record FILE]

The two are interleaved, A B A B (curl, client, curl, client...; with ``--before DIR`` the
client of that checkout after each), so neither always runs right after the other's writes.
Each side is a process of its own: its CPU seconds are its own (wait4), the client's peak RSS
its own (VmHWM). Printed: MB/s and CPU s/GiB of each, the ratio of the medians (target: the
client at least 90% of curl, CPU within 1.2x of curl's: the client's CPU while it downloads,
every thread's, beside its whole process's with the interpreter's start-up and imports, which
are no cost per GiB; curl starts in milliseconds), the client's peak RSS (< 100 MB), and
the single-core sha256 bound measured in the same run: the client hashes every byte and
checks it against the Management Node's sha256, curl -o does not, so on a CPU without SHA
extensions (no ``sha_ni``) that bound, not curl, is what the client can reach.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("BENCH_CODE", str(ROOT)))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, peak_rss_mb, record, run_child  # noqa: E402

PASSWORD = "bench-admin-pw"  # the simulator's lab credential, not a secret
PASSPHRASE = "bench-passphrase"


def worker(url: str, info_json: str, target: str) -> None:
    """Child: download with InfinityClient into ``target``; print seconds and peak RSS."""
    from backup_agent.config import Deployment, Secret
    from backup_agent.infinity import BackupInfo, FileSink, InfinityClient

    os.environ["BENCH_PW"] = PASSWORD
    dep = Deployment(name="bench", url=url, password=Secret("bench.password", env="BENCH_PW"))
    info = BackupInfo(**json.loads(info_json))
    with InfinityClient(dep) as client, open(target, "w+b") as f:
        start, cpu = time.perf_counter(), time.process_time()  # the process's, every thread
        size, _digest = client.download_backup(info, FileSink(f))
        f.flush()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "size": size, "rss_mb": peak_rss_mb()}))


def run_client(url: str, info_json: str, target: Path, code: str,
               ) -> tuple[float, float, float, float]:
    """(seconds, CPU seconds of the download, peak RSS MB, CPU seconds of the whole process)
    of one download by the client of ``code``."""
    env = {**os.environ, "PYTHONPATH": code, "BENCH_CODE": code}
    out, cpu = run_child([sys.executable, __file__, "--worker", url, info_json, str(target)], env)
    res = json.loads(out.strip().splitlines()[-1])
    target.unlink()
    return float(res["seconds"]), float(res["cpu"]), float(res["rss_mb"]), cpu


def sha256_ceiling(mib: int = 256) -> float:
    """MB/s of sha256 on one core of this CPU right now: no verified download can beat it."""
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(mib):
        digest.update(block)
    return mib * 1.048576 / (time.perf_counter() - start)


def run_curl(url: str, target: Path) -> tuple[float, float, float, float]:
    start = time.perf_counter()
    _, cpu = run_child(["curl", "-sS", "--fail", "-u", f"admin:{PASSWORD}", "-o", str(target), url])
    seconds = time.perf_counter() - start
    target.unlink()
    return seconds, cpu, 0.0, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", metavar="DIR", help="also the client of this checkout")
    parser.add_argument("--record", metavar="FILE", help="append the README row to FILE")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is not installed")

    from backup_agent.config import Deployment, Secret
    from backup_agent.infinity import InfinityClient
    from backup_agent.sim import SimOptions, Simulator

    print(machine_line())
    os.environ["BENCH_PW"] = PASSWORD
    opts = SimOptions(rooms=50, password=PASSWORD, backup_padding_bytes=args.size_mib * 1024 * 1024)
    with Simulator(opts) as sim, tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
        dep = Deployment(name="bench", url=sim.url, password=Secret("bench.password", env="BENCH_PW"))
        with InfinityClient(dep) as client:
            info = client.find_new_backup(client.create_backup(PASSPHRASE), poll_interval=0.2)
        url = sim.url.rstrip("/") + info.resource_uri
        info_json = json.dumps({k: v for k, v in info.__dict__.items() if k != "extra"})
        mb, gib = info.size / 1e6, info.size / 2**30
        print(f"backup {info.filename}: {mb:,.0f} MB; {args.rounds} rounds, interleaved")
        sides: dict[str, Callable[[], tuple[float, float, float, float]]] = {
            "curl -o": lambda: run_curl(url, Path(tmp) / "curl.bin"),
            "client": lambda: run_client(sim.url, info_json, Path(tmp) / "client.bin", str(ROOT))}
        if args.before:
            sides["client (--before)"] = lambda: run_client(sim.url, info_json,
                                                            Path(tmp) / "before.bin", args.before)
        results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in sides}
        bounds = []
        for r in range(args.rounds):
            for name, fn in sides.items():
                results[name].append(fn())
            bounds.append(sha256_ceiling())
            print(f"  round {r + 1}: " + " | ".join(
                f"{name} {mb / res[-1][0]:6.1f} MB/s {res[-1][1] / gib:.2f} CPU-s/GiB"
                for name, res in results.items()) + f" | sha256 on one core {bounds[-1]:.0f} MB/s")
    med = {name: (statistics.median(mb / s for s, _, _, _ in res),
                  statistics.median(c / gib for _, c, _, _ in res), max(m for _, _, m, _ in res))
           for name, res in results.items()}
    whole = statistics.median(w / gib for _, _, _, w in results["client"])
    bound = statistics.median(bounds)
    for name, (speed, cpu, rss) in med.items():
        print(f"median {name:18} {speed:7.1f} MB/s  {cpu:.2f} CPU-s/GiB"
              + (f"  peak RSS {rss:.1f} MB" if rss else ""))
    print(f"client's whole process (start-up and imports included): {whole:.2f} CPU-s/GiB")
    c_speed, c_cpu, c_rss = med["client"]
    k_speed, k_cpu, _ = med["curl -o"]
    print(f"client at {c_speed / k_speed:.0%} of curl -o (target >= 90%), CPU {c_cpu / k_cpu:.2f}x "
          f"curl's (target <= 1.2x), {c_speed / bound:.0%} of the sha256 bound ({bound:.0f} MB/s); "
          f"peak RSS {c_rss:.0f} MB (target < 100 MB)")
    record(args.record, "download of a 1 GiB config backup, sha256 verified on the fly",
           "python3 bench/bench_download.py",
           f"client **{c_speed:.0f} MB/s = {c_speed / k_speed:.0%} of `curl -o`** ({k_speed:.0f} "
           f"MB/s, not verifying), interleaved, medians of {args.rounds}; CPU {c_cpu:.2f} s/GiB = "
           f"{c_cpu / k_cpu:.2f}x curl's while downloading ({whole:.2f} s/GiB = {whole / k_cpu:.2f}x "
           f"as a whole process, start-up included); sha256 bound {bound:.0f} MB/s; "
           f"peak RSS {c_rss:.0f} MB"
           + (f"; before {med['client (--before)'][0]:.0f} MB/s, "
              f"{med['client (--before)'][1]:.2f} CPU-s/GiB" if args.before else ""),
           ">= 90% of curl -o, CPU <= 1.2x, < 100 MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:5])
    else:
        main()
