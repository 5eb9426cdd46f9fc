"""What every bench shares: the machine it ran on, the peak RSS of the measured process, and a
row for the README's benchmark table.

Peak RSS is read from ``/proc/self/status`` (``VmHWM``) in the measured process itself:
``ru_maxrss`` of a child that a big parent (one holding the simulator) forked carries the
parent's peak across exec, which made the listing bench's 97 MB look like 120 MB.

``--record FILE`` on a bench appends its README row (JSON, one per line) to FILE;
``python3 bench/table.py FILE --write README.md`` regenerates the table from those rows.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
from pathlib import Path
from typing import Any

FLAGS = ("sha_ni", "avx", "avx2", "avx512f")


def machine() -> dict[str, Any]:
    """CPU model, the flags that bound hashing and JSON work, cores usable and the load now."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "flags": [f for f in FLAGS if f in flags], "cores": cores,
            "load": round(os.getloadavg()[0], 2), "python": platform.python_version()}


def machine_line() -> str:
    m = machine()
    return (f"machine: {m['cpu']}, {m['cores']} cores, flags {' '.join(m['flags']) or 'none'} "
            f"(sha_ni {'yes' if 'sha_ni' in m['flags'] else 'NO'}), load {m['load']}, "
            f"Python {m['python']}")


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM), in MB; ru_maxrss only where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[str, float]:
    """Run ``argv``; its stdout and the CPU seconds (user + system) of that process alone."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, text=True) as proc:
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed (exit {proc.returncode})")
    return out, usage.ru_utime + usage.ru_stime


def record(path: str | None, what: str, command: str, figure: str, target: str) -> None:
    """Append this bench's README row to ``path`` (nothing without ``--record``)."""
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"what": what, "command": command, "figure": figure,
                                 "target": target, "machine": machine()}) + "\n")
