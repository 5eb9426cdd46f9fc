"""Run a Python command and write its own peak RSS (VmHWM, kB) to ``$BENCH_PEAK_FILE`` at exit.

    python bench/_peak.py -m backup_agent --config agent.toml copy
    .peers/awscli/bin/python bench/_peak.py .peers/awscli/bin/aws s3 cp ...

``ru_maxrss`` of a child counts the RSS of the parent that forked it (Linux keeps the peak
across exec), so a bench that imported boto3 before starting its child measured its own
imports too. Standard library only: it runs under another venv's interpreter as well.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys
from pathlib import Path


def _write_peak() -> None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            Path(os.environ["BENCH_PEAK_FILE"]).write_text(line.split()[1])


def main() -> None:
    atexit.register(_write_peak)
    if sys.argv[1] == "-m":
        sys.argv = [sys.argv[2], *sys.argv[3:]]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
