"""The console at partner scale: ``/`` and ``/api/v1/status`` for 50 deployments of 10,000
restore points each, served by the daemon.

    python3 bench/bench_console.py [--deployments 50] [--points 10000] [--requests 50]
                                   [--record FILE]

The catalog is filled straight through its tables (bench/console_fill.py: a third each config
backups, snapshots and room exports per deployment, an inventory, checkpoints, a week of a
daemon's runs; five deployments with their Management Node down, so five cards run the
autonomy clock). Then ``backup-agent run`` starts as a process of its own (every schedule
off: nothing but the web app works) and this script asks for each page ``--requests`` times
with an operator's bearer token, one request at a time: the first (cold) apart, then the
median and p95. Peak RSS is the daemon's own (``/proc/PID/status`` VmHWM), not this
script's. Target (issue 15): median under 100 ms for both.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, record  # noqa: E402
from console_fill import config, fill  # noqa: E402

TOKEN = "bench-operator-token-5d1c"  # a bench's own, not a secret anywhere else
PATHS = ("/", "/api/v1/status")


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def get(port: int, path: str) -> tuple[int, int, float]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return resp.status, len(body), time.perf_counter() - start


def wait_listening(proc: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace")):
            return int(m.group(1))
        if proc.poll() is not None:
            raise SystemExit(f"daemon exited: {log.read_text(errors='replace')}")
        time.sleep(0.05)
    raise SystemExit("daemon not listening in 120 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deployments", type=int, default=50)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--record", metavar="FILE", help="append the README rows to FILE")
    args = ap.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "token").write_text(TOKEN)
        tokens = f'[[daemon.tokens]]\nname = "bench"\nrole = "operator"\ntoken_file = "{tmp / "token"}"\n'
        cfg = config(tmp, args.deployments, extra=tokens)
        subprocess.run([sys.executable, "-c", "import sys, pathlib; from backup_agent.catalog import "
                        "SQLiteCatalog; SQLiteCatalog(pathlib.Path(sys.argv[1])).close()",
                        str(tmp / "var" / "catalog.db")], check=True, cwd=ROOT)
        started = time.monotonic()
        fill(tmp / "var", args.deployments, args.points)
        print(f"filled {args.deployments} x {args.points:,} restore points in "
              f"{time.monotonic() - started:.0f} s")
        log = tmp / "daemon.err"
        with open(log, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg),
                                     "run"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})
            try:
                port = wait_listening(proc, log)
                rss_idle = vm_hwm_mb(proc.pid)
                results = {path: measure(port, path, args.requests, proc.pid) for path in PATHS}
                peak = vm_hwm_mb(proc.pid)
            finally:
                proc.terminate()
                proc.wait(60)
    for path, r in results.items():
        print(f"{path:16} first {r['first'] * 1000:6.0f} ms, median {r['median'] * 1000:6.1f} ms, "
              f"p95 {r['p95'] * 1000:6.1f} ms over {args.requests} requests, daemon CPU "
              f"{r['cpu'] * 1000:.0f} ms a request, {r['bytes']:,} bytes")
    print(f"daemon peak RSS (VmHWM): {rss_idle:.0f} MB when listening, {peak:.0f} MB after the requests")
    scale = f"{args.deployments} deployments x {args.points:,} restore points"
    for path, r in results.items():
        record(args.record, f"console `{path}`, {scale}", "python3 bench/bench_console.py",
               f"median **{r['median'] * 1000:.0f} ms**, p95 {r['p95'] * 1000:.0f} ms, first "
               f"{r['first'] * 1000:.0f} ms, daemon CPU {r['cpu'] * 1000:.0f} ms a request; "
               f"daemon peak RSS {peak:.0f} MB", "median < 100 ms")


def measure(port: int, path: str, requests: int, pid: int) -> dict[str, float]:
    """First (cold) request, then ``requests`` more: median, p95 and the daemon's CPU seconds
    per request (on a shared machine the wall time waits for other work, the CPU does not)."""
    status, size, first = get(port, path)
    if status != 200:
        raise SystemExit(f"GET {path}: {status}")
    cpu0 = cpu_seconds(pid)
    times = []
    for _ in range(requests):
        status, size, seconds = get(port, path)
        if status != 200:
            raise SystemExit(f"GET {path}: {status}")
        times.append(seconds)
    cpu = (cpu_seconds(pid) - cpu0) / requests
    times.sort()
    return {"first": first, "median": statistics.median(times), "cpu": cpu,
            "p95": times[min(len(times) - 1, round(0.95 * len(times)) - 1)], "bytes": size}


if __name__ == "__main__":
    main()
