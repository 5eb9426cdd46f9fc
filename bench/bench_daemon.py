"""The idle daemon: start-up to /readyz, then RSS and CPU over a compressed hour.

    python3 bench/bench_daemon.py [--deployments 10] [--seconds 60] [--record FILE]

``backup-agent run`` runs as a subprocess with ``--deployments`` deployments against one
simulator over HTTP. Time is compressed 60x: one second stands for one minute, so the default
schedules become watch every 5 s, audit every 60 s, export every 6 min, backup, retention and
verify once at start (overdue). Measured on the daemon process itself (/proc/PID, not this
script): start-up to the first 200 on /readyz, CPU over the run after the start-up runs,
average and peak RSS (VmHWM). Targets (issue 9): < 150 MB RSS, < 1% of a core idle,
< 2 s to /readyz.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, record  # noqa: E402

PASSWORD = "bench-admin-pw"
TICK = os.sysconf("SC_CLK_TCK")
SCHEDULE = {"backup": "@every 24m", "export": "@every 6m", "retention": "@every 24m",
            "verify": "@every 168m", "watch": "@every 5s", "audit": "@every 60s"}


def write_config(tmp: Path, url: str, deployments: int) -> Path:
    (tmp / "pw").write_text(PASSWORD)
    (tmp / "pp").write_text("bench-passphrase-long")
    lines = [f'[storage]\npath = "{tmp / "var"}"\n', '[daemon]\nlisten = "127.0.0.1:0"\n',
             "[retention]\nkeep_last = 3\n"]
    for i in range(deployments):
        lines += ["[[deployments]]", f'name = "dep{i:02d}"', f'url = "{url}"',
                  f'password_file = "{tmp / "pw"}"', f'passphrase_file = "{tmp / "pp"}"',
                  "[deployments.schedule]", *(f'{k} = "{v}"' for k, v in SCHEDULE.items()), ""]
    cfg = tmp / "agent.toml"
    cfg.write_text("\n".join(lines))
    return cfg


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(val.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def wait_ready(proc: subprocess.Popen[bytes], log: Path, started: float) -> tuple[float, int]:
    port = 0
    while time.monotonic() - started < 60:
        if not port and (m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text())):
            port = int(m.group(1))
        if port:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - started, port
            except OSError:
                pass
        if proc.poll() is not None:
            raise SystemExit(f"daemon exited: {log.read_text()}")
        time.sleep(0.01)
    raise SystemExit("daemon not ready in 60 s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deployments", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--trace", action="store_true", help="print RSS every 10 s")
    ap.add_argument("--record", metavar="FILE", help="append the README row to FILE")
    args = ap.parse_args()
    print(machine_line())
    from backup_agent.sim import SimOptions, Simulator

    with Simulator(SimOptions(rooms=50, password=PASSWORD, backup_request_seconds=0.05)) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(Path(tmp), sim.url, args.deployments)
        log = Path(tmp) / "daemon.err"
        with open(log, "wb") as err:
            started = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg),
                                     "run"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
            ready, port = wait_ready(proc, log, started)
            time.sleep(10)  # the start-up runs (every job is overdue once) settle
            cpu0, t0, rss = cpu_seconds(proc.pid), time.monotonic(), []
            while time.monotonic() - t0 < args.seconds:
                rss.append(proc_status(proc.pid)["VmRSS"])
                if args.trace and len(rss) % 10 == 1:
                    print(f"  t={time.monotonic() - t0:5.0f} s RSS {rss[-1] / 1e6:.1f} MB", flush=True)
                time.sleep(1)
            cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
            peak = proc_status(proc.pid)["VmHWM"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                runs = sum(float(line.rsplit(" ", 1)[1]) for line in r.read().decode().splitlines()
                           if line.startswith("backup_agent_runs_total"))
            proc.terminate()
            code = proc.wait(60)
    print(f"deployments            {args.deployments}")
    print(f"start-up to /readyz    {ready:.2f} s")
    print(f"runs in the window     {runs:.0f} (start-up runs included)")
    print(f"idle CPU               {100 * cpu:.2f}% of one core over {args.seconds:.0f} s "
          f"(a compressed hour)")
    print(f"RSS                    avg {sum(rss) / len(rss) / 1e6:.1f} MB, peak (VmHWM) {peak / 1e6:.1f} MB")
    print(f"SIGTERM exit code      {code}")
    record(args.record, f"idle daemon, {args.deployments} deployments, a compressed hour (60x: "
           "watch every 5 s, audit every 60 s, every job once at start)",
           "python3 bench/bench_daemon.py",
           f"start-up to `/readyz` **{ready:.2f} s**; CPU **{100 * cpu:.2f}%** of one core over "
           f"{args.seconds:.0f} s, {runs:.0f} runs (60x the real schedule's probe rate);"
           " RSS of the daemon process "
           f"itself avg **{sum(rss) / len(rss) / 1e6:.0f} MB**, peak (VmHWM) **{peak / 1e6:.0f} MB**; "
           f"SIGTERM exit {code}", "< 2 s, < 1%, < 150 MB")


if __name__ == "__main__":
    main()
