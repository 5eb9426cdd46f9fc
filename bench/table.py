"""The README's benchmark table, regenerated from the rows the benches record.

    python3 bench/bench_export.py --record /tmp/bench.jsonl   # ... each bench, then:
    python3 bench/table.py /tmp/bench.jsonl [--write README.md]

Prints the table (the machine line first); ``--write`` replaces it in the README between the
``<!-- bench-table -->`` and ``<!-- /bench-table -->`` markers.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

START, END = "<!-- bench-table -->", "<!-- /bench-table -->"


def table(rows: list[dict[str, object]]) -> str:
    m = rows[-1]["machine"] if rows else {}
    assert isinstance(m, dict)
    flags = " ".join(m.get("flags") or []) or "none"
    machines = [r.get("machine") for r in rows]
    loads = sorted(float(mm["load"]) for mm in machines if isinstance(mm, dict) and "load" in mm)
    load = f"{loads[0]:.1f} to {loads[-1]:.1f} across the rows" if loads else "unknown"
    head = (f"Measured {datetime.now(UTC):%Y-%m-%d} on {m.get('cpu')}, {m.get('cores')} cores "
            f"(flags: {flags}; sha_ni {'yes' if 'sha_ni' in flags else 'no'}), Python "
            f"{m.get('python')}, load {load} (a shared machine).\n\n")
    lines = ["| what | command | figure | target |", "|---|---|---|---|"]
    lines += [f"| {r['what']} | `{r['command']}` | {r['figure']} | {r['target']} |" for r in rows]
    return head + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+")
    parser.add_argument("--write", metavar="README")
    args = parser.parse_args()
    rows: dict[str, dict[str, object]] = {}
    for path in args.records:  # the last row of a bench wins: a re-run replaces its figure
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows[str(row["what"])] = row
    text = table(list(rows.values()))
    if not args.write:
        print(text, end="")
        return 0
    readme = Path(args.write)
    doc = readme.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        sys.exit(f"{readme} has no {START} ... {END} markers")
    before, rest = doc.split(START, 1)
    readme.write_text(before + START + "\n" + text + rest[rest.index(END):], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
