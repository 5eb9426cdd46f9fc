"""Catalog reads and the live plan at partner scale: ``list``, ``list --json``, ``status`` and
``plan`` with 10,000 restore points (``--points``).

    python3 bench/bench_catalog.py [--points 10000] [--latency-ms 200] [--runs 5]
                                   [--run-days DAYS] [--before DIR] [--record FILE]

Fills a catalog (a third each config backups, snapshots of 50 nodes, room exports, each with
its files), then times each command, in this process through the CLI's ``main`` (median of
``--runs``; the interpreter's start-up, printed apart, is not the command's), and once as a
whole process. ``status`` probes the simulator (answering at once); ``plan`` runs live against it
while its every answer (the Management Node's and the ``sim`` provider's) takes
``--latency-ms``. ``--before DIR`` runs the same (in turn, command by command)
commands with another checkout (its plan only when the points are few: it asked the provider
about every snapshot, one at a time). Targets (issue 12): each read under 200 ms at 10,000
restore points; the plan under 10 s. ``--run-days DAYS`` also fills DAYS of the daemon's
5-minute watch runs (365: 105,120 runs) and times ``status`` and ``list`` with them, then again
after this checkout's retention pruned them (``[retention.runs]`` defaults: 90 days, the last
50 of each job).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("BENCH_CODE", str(ROOT)))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, peak_rss_mb, record, run_child  # noqa: E402

PASSWORD = "bench-admin-pw"  # the simulator's lab credential, not a secret
NODES = 50
COMMANDS = {"list": ["list"], "list --json": ["list", "--json"],
            "status": ["status"],
            "plan (live)": ["plan", "-d", "bench", "--failed", "management", "--json"]}


def config(tmp: Path, url: str) -> Path:
    nodes = "".join(f'\n[[deployments.nodes]]\nname = "{n}"\nrole = "{r}"\nprovider = "hv"\n'
                    f'vm = "{n}"\n' for n, r in [("mgr01", "management"),
                                                  *((f"cn-{i:03d}", "conferencing")
                                                    for i in range(1, NODES))])
    cfg = tmp / "agent.toml"
    cfg.write_text(f'[storage]\npath = "{tmp}/var"\n\n[[deployments]]\nname = "bench"\n'
                   f'url = "{url}"\npassword_env = "BENCH_PW"\npassphrase_env = "BENCH_PW"\n'
                   f'{nodes}\n[providers.hv]\ntype = "sim"\nurl = "{url}"\n'
                   f'password_env = "BENCH_PW"\n')
    return cfg


def fill(db: Path, points: int) -> None:
    """``points`` restore points straight into the catalog's tables (the setup, not measured)."""
    now = datetime.now(UTC)
    rps, files = [], []
    for i in range(points):
        rid, taken = f"rp-{i:06d}", (now - timedelta(hours=i + 1)).isoformat().replace("+00:00", "Z")
        kind = ("config-backup", "snapshot", "room-export")[i % 3]
        node = ("mgr01" if i % 2 else f"cn-{1 + i % (NODES - 1):03d}") if kind == "snapshot" else None
        data = {"provider_id": f"gone-{i}"} if kind == "snapshot" else {"rooms": 1234}
        rps.append((rid, kind, "bench", taken, "38.1", None, node, "hv" if node else None, 1,
                    None, json.dumps(data)))
        names = {"config-backup": ["backup.tar.enc"], "snapshot": [],
                 "room-export": ["rooms.json", "vmrs.csv", "auditoriums.csv"]}[kind]
        files += [(rid, n, f"bench/{kind}/{rid}/{n}", "0" * 64, 1000 + i) for n in names]
    with sqlite3.connect(db) as con:
        con.executemany("INSERT INTO restore_points (id, kind, deployment, taken_at, version, "
                        "build, node, provider, verified, run_id, data) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rps)
        con.executemany("INSERT INTO files VALUES (?,?,?,?,?)", files)


def fill_runs(db: Path, days: int) -> None:
    """``days`` of the daemon's watch job: a run every 5 minutes, with its item (the setup)."""
    now = datetime.now(UTC)
    runs, items = [], []
    for i in range(days * 24 * 12):
        at = (now - timedelta(minutes=5 * i + 1)).isoformat().replace("+00:00", "Z")
        rid = f"run-watch-bench-{i:07d}"
        runs.append((rid, "bench", "watch", at, at, "completed", "{}"))
        items.append((rid, "watch", "ok", None))
    with sqlite3.connect(db) as con:
        con.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?)", runs)
        con.executemany("INSERT INTO run_items VALUES (?,?,?,?)", items)


PRUNE = ("import sys, pathlib; from datetime import UTC, datetime, timedelta; "
         "from backup_agent.catalog import SQLiteCatalog; c = SQLiteCatalog(pathlib.Path(sys.argv[1])); "
         "print(c.prune_runs('bench', datetime.now(UTC) - timedelta(days=90), 50)); c.close()")


def worker(cfg: str, name: str, runs: int) -> None:
    """Child: the command ``runs`` times through the CLI's main; print the times."""
    import gc

    from backup_agent.cli.main import build_parser
    from backup_agent.cli.main import main as cli

    os.environ["BENCH_PW"] = PASSWORD
    build_parser()
    gc.freeze()  # as the program's own start does (main without argv), after the same imports
    times, cpus, codes = [], [], set()
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()) as out, \
                contextlib.redirect_stderr(io.StringIO()):
            codes.add(cli(["--config", cfg, *COMMANDS[name]]))
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    print(json.dumps({"median": statistics.median(times), "cpu": statistics.median(cpus),
                      "codes": sorted(codes), "bytes": len(out.getvalue()), "rss_mb": peak_rss_mb()}))


def measure(cfg: Path, name: str, runs: int, code: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": code, "BENCH_CODE": code, "BENCH_PW": PASSWORD}
    start = time.perf_counter()
    out, _ = run_child([sys.executable, __file__, "--worker", str(cfg), name, "1"], env)
    whole = time.perf_counter() - start
    if runs > 1:
        out, _ = run_child([sys.executable, __file__, "--worker", str(cfg), name, str(runs)], env)
    res = dict(json.loads(out.strip().splitlines()[-1]))
    res["whole"] = whole
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", metavar="DIR")
    parser.add_argument("--before-plan-max", type=int, default=300,
                        help="run --before's live plan only up to this many points")
    parser.add_argument("--run-days", type=int, default=0, metavar="DAYS",
                        help="also fill DAYS of 5-minute watch runs; time status and list with "
                             "them, and after pruning")
    parser.add_argument("--record", metavar="FILE")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    from backup_agent.sim import SimOptions, Simulator

    print(machine_line())
    # An installed agent runs from bytecode (pip and the image compile it); a checkout under
    # PYTHONDONTWRITEBYTECODE would compile every module at each start of "as a process".
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(Path(c) / "backup_agent")
                    for c in (str(ROOT), *([args.before] if args.before else [])))], check=True)
    opts = SimOptions(rooms=10, password=PASSWORD, latency_ms=args.latency_ms)
    codes = {"this checkout": str(ROOT), **({"--before": args.before} if args.before else {})}
    results: dict[tuple[str, str], dict[str, float]] = {}
    with Simulator(opts) as sim, tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        cfgs = {}
        for i, (label, code) in enumerate(codes.items()):  # each checkout's catalog its own
            home = Path(tmp) / str(i)
            home.mkdir()
            cfgs[label] = config(home, sim.url)
            store = home / "var"
            # The schema as this checkout makes it (its migrations, its indexes).
            run_child([sys.executable, "-c", "import sys, pathlib; from backup_agent.catalog "
                       "import SQLiteCatalog; SQLiteCatalog(pathlib.Path(sys.argv[1])).close()",
                       str(store / "catalog.db")], {**os.environ, "PYTHONPATH": code})
            fill(store / "catalog.db", args.points)
            if args.run_days:
                fill_runs(store / "catalog.db", args.run_days)
        for name in COMMANDS:
            for label, code in codes.items():  # the checkouts in turn, command by command
                if name.startswith("plan") and label != "this checkout" \
                        and args.points > args.before_plan_max:
                    continue
                # The reads' status probes a quick Management Node; the plan a slow provider.
                sim.opts.latency_ms = args.latency_ms if name.startswith("plan") else 0.0
                results[(label, name)] = measure(cfgs[label], name, 1 if name.startswith("plan")
                                                 else args.runs, code)
                r = results[(label, name)]
                print(f"{label:14} {name:12} {r['median'] * 1000:8.0f} ms in process "
                      f"(cpu {r['cpu'] * 1000:.0f} ms), {r['whole'] * 1000:6.0f} ms as a process, "
                      f"exit {r['codes']}, {r['bytes']:,} bytes out, peak RSS {r['rss_mb']:.0f} MB")
        if args.run_days:
            code, store = str(ROOT), cfgs["this checkout"].parent / "var"
            sim.opts.latency_ms = 0.0
            out, _ = run_child([sys.executable, "-c", PRUNE, str(store / "catalog.db")],
                               {**os.environ, "PYTHONPATH": code})
            print(f"pruned: {out.strip()}")
            for name in ("status", "list"):
                label = "this checkout, pruned"
                results[(label, name)] = r = measure(cfgs["this checkout"], name, args.runs, code)
                print(f"{label:14} {name:12} {r['median'] * 1000:8.0f} ms in "
                      f"process (cpu {r['cpu'] * 1000:.0f} ms)")
    start = time.perf_counter()
    run_child([sys.executable, "-c", "import backup_agent.cli.main"],
              {**os.environ, "PYTHONPATH": str(ROOT)})
    print(f"interpreter + CLI import: {(time.perf_counter() - start) * 1000:.0f} ms (in each "
          f"'as a process' figure, not in the 'in process' ones)")
    mine = {n: r for (label, n), r in results.items() if label == "this checkout"}
    old = {n: r for (label, n), r in results.items() if label == "--before"}
    if args.run_days:
        pruned = {n: r for (label, n), r in results.items() if label == "this checkout, pruned"}
        was = "".join(f"; before (main, no run index) `{n}` {old[n]['median'] * 1000:.0f} ms"
                      for n in ("status", "list") if n in old)
        record(args.record, f"`status` and `list` with {args.run_days} days of 5-minute watch runs "
               f"({args.run_days * 288:,} runs) and {args.points:,} restore points",
               "python3 bench/bench_catalog.py --run-days 365",
               f"`status` **{mine['status']['median'] * 1000:.0f} ms**, `list` "
               f"{mine['list']['median'] * 1000:.0f} ms; after the retention job pruned the runs "
               f"(90 days + last 50): `status` **{pruned['status']['median'] * 1000:.0f} ms**, `list` "
               f"{pruned['list']['median'] * 1000:.0f} ms{was} (in process, medians)", "< 200 ms each")
        return
    reads = ", ".join(f"`{n}` **{mine[n]['median'] * 1000:.0f} ms** (cpu "
                      f"{mine[n]['cpu'] * 1000:.0f} ms" + (f"; before {old[n]['median'] * 1000:.0f} ms"
                                                           if n in old else "") + ")"
                      for n in COMMANDS if not n.startswith("plan"))
    record(args.record, f"catalog reads, {args.points:,} restore points",
           "python3 bench/bench_catalog.py", f"{reads} (in process, medians)", "< 200 ms each")
    plan = mine["plan (live)"]
    record(args.record, f"live `plan`, {args.points:,} restore points, every answer "
           f"{args.latency_ms:g} ms", "python3 bench/bench_catalog.py",
           f"**{plan['median']:.1f} s** (cpu {plan['cpu']:.1f} s); before, every snapshot was asked "
           f"about in turn: {args.points // 3:,} calls, {args.points // 3 * args.latency_ms / 1000:.0f} s "
           "at that pace", "< 10 s")


if __name__ == "__main__":
    main()
