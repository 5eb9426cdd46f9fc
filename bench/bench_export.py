"""The room export job on a big simulated deployment, against fetches of the rooms alone.

    python3 bench/bench_export.py [--rooms 20000] [--aliases-per-room 2] [--latency-ms 20]
                                  [--before DIR] [--naive] [--whole N] [--rounds N]
                                  [--record FILE]

Against one simulator in this process, each side in a subprocess of its own (its peak RSS is
its own, read from its VmHWM), in the same run:
- export: the real ``export`` job (inventory, rooms, aliases, participants, references named,
  JSON + both CSVs through the store, catalog records), run twice: the first run stores the
  export, the second diffs against it (unchanged: nothing stored, as a nightly run);
- pexshell-style: the rooms alone, 500 per page, following ``meta.next`` one page at a time
  (through the agent's client, which decodes as the export does: with msgspec);
- rooms at 500 per page with 5 in flight (the fast lister on the rooms alone);
- ``--before DIR``: the export of another checkout (``git archive main | tar -x -C DIR``);
- ``--naive``: the export at the API's default page size (20), one request at a time (slow).
- ``--rounds N`` (default 1): the sides above in turn N times, each side's median run kept;
- ``--whole N`` (default 3): the same three as whole processes, in turn N times (medians): the
  ``backup-agent export`` command (interpreter start-up, imports and config included; a fresh
  store each time) against ``bench/pexshell_fetch.py`` (a plain ``requests`` client) following
  ``meta.next``, and with 5 in flight.
Targets (issue 12): the export faster than pexshell-style and within 3x the 5-in-flight fetch;
printed beside it: the latency floor (the requests it made x latency / 5) and its CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("BENCH_CODE", str(ROOT)))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, peak_rss_mb, record, run_child  # noqa: E402

PASSWORD = "bench-admin-pw"  # the simulator's lab credential, not a secret
ROOMS = "configuration/v1/conference/"


def worker(url: str, mode: str, page_size: int, concurrency: int) -> None:
    from backup_agent import config
    from backup_agent.jobs.env import Env

    os.environ["BENCH_PW"] = PASSWORD
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config.parse({"storage": {"path": tmp}, "deployments": [{
            "name": "bench", "url": url, "password_env": "BENCH_PW", "page_size": page_size,
            "max_concurrency": concurrency}]})
        env = Env.open(cfg)
        out: dict[str, object] = {}
        if mode == "export":
            from backup_agent.jobs.export import export

            if os.environ.get("BENCH_PROFILE"):  # where the CPU goes: a cProfile of the first run
                import cProfile

                cProfile.runctx("export(env, cfg.deployment())", globals(), locals(),
                                os.environ["BENCH_PROFILE"])
                env.catalog.close()
                env = Env.open(cfg)

            for label in ("first", "again"):
                start, cpu = time.perf_counter(), time.process_time()
                run = export(env, cfg.deployment())
                out[label] = {"seconds": time.perf_counter() - start, "outcome": str(run.outcome),
                              "cpu": time.process_time() - cpu,
                              "rooms": run.summary.get("room_export", {}).get("rooms")}
        else:
            from backup_agent.infinity import InfinityClient

            with InfinityClient(cfg.deployment()) as client:
                start, cpu = time.perf_counter(), time.process_time()
                rooms = client.list_all(ROOMS, sequential=(mode == "sequential"),
                                        page_size=page_size)
                out["first"] = {"seconds": time.perf_counter() - start, "rooms": len(rooms),
                                "cpu": time.process_time() - cpu, "outcome": "ok"}
        env.close()
    out["rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def side(sim: object, mode: str, page_size: int, concurrency: int,
         code: str | None = None) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": code or str(ROOT), "BENCH_CODE": code or str(ROOT)}
    before = sim.state.requests_served  # type: ignore[attr-defined]
    out, _cpu = run_child([sys.executable, __file__, "--worker", sim.url,  # type: ignore[attr-defined]
                           mode, str(page_size), str(concurrency)], env=env)
    result = dict(json.loads(out.strip().splitlines()[-1]))
    runs = 2 if mode == "export" else 1  # the export runs twice: stored, then again (diff)
    result["requests"] = (sim.state.requests_served - before) // runs  # type: ignore[attr-defined]
    return result


def whole(url: str, rounds: int) -> dict[str, tuple[float, float]]:
    """(median wall s, median CPU s) of each side as a whole process, the sides in turn."""
    fetch = [sys.executable, str(Path(__file__).resolve().parent / "pexshell_fetch.py"), url]
    env = {**os.environ, "BENCH_PW": PASSWORD, "PYTHONPATH": str(ROOT)}
    times: dict[str, list[tuple[float, float]]] = {"export": [], "pexshell": [], "5 in flight": []}
    # An installed agent runs from bytecode (pip and the image compile it); a checkout under
    # PYTHONDONTWRITEBYTECODE would compile every module afresh at each start (0.1 s).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "backup_agent"),
                    str(ROOT / "providers")], check=True)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        cfg = Path(tmp) / "agent.toml"
        cfg.write_text(f'[storage]\npath = "{tmp}/var"\n\n[[deployments]]\nname = "bench"\n'
                       f'url = "{url}"\npassword_env = "BENCH_PW"\npage_size = 500\n')
        export = [sys.executable, "-m", "backup_agent", "--config", str(cfg), "export"]
        for _ in range(rounds):
            for name, argv in (("export", export), ("pexshell", fetch),
                               ("5 in flight", [*fetch, "--in-flight", "5"])):
                shutil.rmtree(Path(tmp) / "var", ignore_errors=True)
                start = time.perf_counter()
                with subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL) as proc:
                    _, status, usage = os.wait4(proc.pid, 0)
                    proc.returncode = os.waitstatus_to_exitcode(status)
                if proc.returncode != 0:
                    raise SystemExit(f"{name} failed (exit {proc.returncode})")
                times[name].append((time.perf_counter() - start, usage.ru_utime + usage.ru_stime))
    return {n: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
            for n, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=20000)
    parser.add_argument("--aliases-per-room", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--before", metavar="DIR", help="also run the export of this checkout")
    parser.add_argument("--naive", action="store_true", help="also the page-20 sequential export")
    parser.add_argument("--whole", type=int, default=3, metavar="N",
                        help="rounds of the whole-process comparison (0: none)")
    parser.add_argument("--rounds", type=int, default=1, metavar="N",
                        help="run the in-process sides in turn N times (medians)")
    parser.add_argument("--record", metavar="FILE", help="append the README row to FILE")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]), int(args.worker[3]))
        return
    from backup_agent.sim import SimOptions, Simulator

    print(machine_line())
    opts = SimOptions(rooms=args.rooms, aliases_per_room=args.aliases_per_room,
                      latency_ms=args.latency_ms, password=PASSWORD)
    with Simulator(opts) as sim:
        print(f"simulator: {sim.state.room_count:,} rooms, {sim.state.alias_count:,} aliases, "
              f"{args.latency_ms:g} ms latency per request")
        runs: dict[str, Any] = {
            "pexshell-style rooms (500/page, next)": lambda: side(sim, "sequential", 500, 1),
            "rooms (500/page, 5 in flight)": lambda: side(sim, "concurrent", 500, 5),
            "export (this checkout)": lambda: side(sim, "export", 500, 5)}
        if args.before:
            runs["export (--before)"] = lambda: side(sim, "export", 500, 5, args.before)
        if args.naive:
            runs["export (20/page, sequential)"] = lambda: side(sim, "export", 20, 1)
        # The sides in turn --rounds times (A B C A B C: a loaded machine's swings fall on
        # each side alike); each side's run of median wall time is its figure.
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                rounds[name].append(run())
        sides = {name: sorted(rs, key=lambda r: r["first"]["seconds"])[len(rs) // 2]
                 for name, rs in rounds.items()}
        procs = whole(sim.url, args.whole) if args.whole else {}
    for name, r in sides.items():
        first = r["first"]
        assert isinstance(first, dict)
        floor = int(r["requests"]) * args.latency_ms / 1000 / 5  # type: ignore[call-overload]
        again = r.get("again")
        tail = (f"; again (diff, {again['outcome']}) {again['seconds']:.2f} s, cpu {again['cpu']:.2f} s"
                if isinstance(again, dict) else "")
        print(f"{name:40} {first['seconds']:7.2f} s  cpu {first['cpu']:6.2f} s  "
              f"{r['requests']:4} requests per run (floor {floor:.2f} s at 5 in flight)  "
              f"peak RSS {r['rss_mb']:6.1f} MB  {first['rooms']} rooms{tail}")
    exp = sides["export (this checkout)"]["first"]
    seq = sides["pexshell-style rooms (500/page, next)"]["first"]
    conc = sides["rooms (500/page, 5 in flight)"]["first"]
    assert isinstance(exp, dict) and isinstance(seq, dict) and isinstance(conc, dict)
    vs_seq, vs_conc = seq["seconds"] / exp["seconds"], exp["seconds"] / conc["seconds"]
    rss = sides["export (this checkout)"]["rss_mb"]
    print(f"export {exp['seconds']:.2f} s: {vs_seq:.2f}x the speed of pexshell-style (target > 1), "
          f"{vs_conc:.2f}x the 5-in-flight rooms fetch (target <= 3); peak RSS {rss:.0f} MB")
    if procs:
        (ew, ec), (pw, _), (cw, _) = procs["export"], procs["pexshell"], procs["5 in flight"]
        print(f"whole processes, medians of {args.whole}: `backup-agent export` {ew:.2f} s (cpu "
              f"{ec:.2f} s), pexshell-style requests fetch {pw:.2f} s, 5 in flight {cw:.2f} s: "
              f"{pw / ew:.2f}x the speed of pexshell-style, {ew / cw:.2f}x the 5-in-flight one")
    before = sides.get("export (--before)")
    was = ""
    if before is not None:
        b = before["first"]
        assert isinstance(b, dict)
        was = (f"; before: {b['seconds']:.2f} s, cpu {b['cpu']:.2f} s, {before['requests']} "
               f"requests, {before['rss_mb']:.0f} MB")
    record(args.record, f"room export, {sim.state.room_count:,} rooms + {sim.state.alias_count:,} "
           f"aliases, {args.latency_ms:g} ms per request", "python3 bench/bench_export.py",
           f"**{exp['seconds']:.2f} s** (cpu {exp['cpu']:.2f} s, "
           f"{sides['export (this checkout)']['requests']} requests, floor "
           f"{int(sides['export (this checkout)']['requests']) * args.latency_ms / 5000:.2f} s"  # type: ignore[call-overload]
           + (f"; each side the median of {args.rounds} runs in turn" if args.rounds > 1 else "")
           + "): "
           + f"**{vs_seq:.2f}x the speed** of a pexshell-style fetch of the rooms alone "
           f"({seq['seconds']:.2f} s), **{vs_conc:.2f}x the time** of a 5-in-flight fetch of "
           f"them ({conc['seconds']:.2f} s); peak RSS **{rss:.0f} MB**{was}"
           + (f"; as whole processes (start-up included, medians of {args.whole}): "
              f"`backup-agent export` **{procs['export'][0]:.2f} s** (cpu {procs['export'][1]:.2f} s), "
              f"**{procs['pexshell'][0] / procs['export'][0]:.2f}x the speed** of a pexshell-style "
              f"`requests` fetch ({procs['pexshell'][0]:.2f} s), "
              f"**{procs['export'][0] / procs['5 in flight'][0]:.2f}x** a 5-in-flight one "
              f"({procs['5 in flight'][0]:.2f} s)" if procs else ""),
           "> 1x pexshell, <= 3x 5-in-flight, < 150 MB at 50k")


if __name__ == "__main__":
    main()
