"""``backup-agent demo``: the whole product on the bundled simulator, in under a minute.

Starts a simulated deployment in-process on a free loopback port, writes a configuration and
its secrets into a temporary directory, and runs what an ops team runs: config backup, room
export (twice, to show an unchanged export and a diff), verify, a pre-upgrade snapshot of the
Management Node through the simulator's hypervisor, a restore plan for a lost Management Node,
and a drill of that plan on a second simulator built from the catalog (timed and verified; its
measured time then feeds the plan's estimate), and finally ``backup-agent run`` for a few
seconds of compressed time (its /readyz, /metrics, and a SIGTERM). It prints what it did and
where the files are.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from backup_agent.cli.common import Context
from backup_agent.errors import AgentError, UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run backup, export, snapshot and plan on the simulator")
    p.add_argument("--rooms", type=int, default=3000, help="simulated rooms (3000)")
    p.add_argument("--nodes", type=int, default=6, help="simulated Conferencing Nodes (6)")
    p.add_argument("--keep", metavar="DIR", help="keep the demo's store in DIR (default: a temp dir)")
    p.set_defaults(func=run)


def demo_config(root: Path, url: str, password: str, nodes: list[str]) -> str:
    """The agent.toml the demo runs with; secrets live in 0600 files beside it."""
    for name, value in (("password", password), ("passphrase", secrets.token_urlsafe(24))):
        f = root / name
        f.write_text(value)
        f.chmod(0o600)
    node_tables = "".join(
        f'\n[[deployments.nodes]]\nname = "{n}"\nrole = "{"management" if i == 0 else "conferencing"}"\n'
        f'provider = "sim-hypervisor"\nvm = "{n}"\n' for i, n in enumerate(nodes))
    return f"""[storage]
path = "{root / 'var'}"

[[deployments]]
name = "demo"
url = "{url}"
password_file = "{root / 'password'}"
passphrase_file = "{root / 'passphrase'}"
{node_tables}
[providers.sim-hypervisor]
type = "sim"
url = "{url}"
password_file = "{root / 'password'}"
"""


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.sim import SimOptions

    out = ctx.out
    if not args.verbose:  # the demo narrates itself; job logs only with -v
        logging.getLogger().setLevel(logging.WARNING)
    t0 = time.monotonic()
    try:
        opts = SimOptions(rooms=args.rooms, conferencing_nodes=args.nodes, seed=7)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.keep:
        root = Path(args.keep)
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--keep {args.keep}: {exc.strerror or exc}") from exc
    else:
        root = Path(tempfile.mkdtemp(prefix="backup-agent-demo-"))
    try:
        return _run(args, out, root, opts, t0)
    finally:
        # The temporary store holds the demo's secrets: it goes whatever happened.
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _run(args: argparse.Namespace, out: Any, root: Path, opts: Any, t0: float) -> int:
    from backup_agent import config as config_mod
    from backup_agent.jobs import backup, export, snapshots
    from backup_agent.jobs.env import Env
    from backup_agent.sim import Simulator

    with Simulator(opts) as sim:
        out.write(f"Simulated Infinity deployment at {sim.url}: {args.rooms:,} rooms, "
                  f"{args.nodes} Conferencing Nodes\n")
        node_names = [opts.management_name, *(w["name"] for w in sim.state.worker_status())]
        cfg_path = root / "agent.toml"
        cfg_path.write_text(demo_config(root, sim.url, opts.password, node_names))
        cfg = config_mod.load(cfg_path)
        dep = cfg.deployment()
        env = Env.open(cfg)
        try:
            steps = [
                ("config backup", lambda: backup.backup(env, dep)),
                ("room export", lambda: export.export(env, dep)),
                ("room export again (nothing changed)", lambda: export.export(env, dep)),
            ]
            for label, step in steps:
                run_ = step()
                out.write(f"- {label}: {run_.outcome}{_failures(run_)}\n")
            sim.state.delete_rooms(3)
            run_ = export.export(env, dep)
            d = (run_.summary.get("room_export") or {}).get("diff") or {}
            out.write(f"- 3 rooms deleted on the Management Node, export again: {run_.outcome}, "
                      f"diff {d.get('added', 0)} added / {d.get('removed', 0)} removed / "
                      f"{d.get('changed', 0)} changed\n")
            run_ = snapshots.take(env, dep, [dep.node(opts.management_name)], "pre-upgrade")
            out.write(f"- pre-upgrade snapshot of {opts.management_name}: {run_.outcome}"
                      f"{_failures(run_)}\n")
            ckpt = _checkpoint(env, dep, out)
            _plan_and_drill(env, dep, out)
            _release(env, sim, ckpt, out)
            out.write("\nRestore points in the catalog:\n")
            for rp in env.catalog.restore_points(dep.name):
                size = sum(f.size for f in rp.files)
                out.write(f"  {rp.id:38} {rp.kind:14} {size:>12,} bytes\n")
                for f in rp.files:
                    out.write(f"      {env.store.location(f.key)}\n")
        except AgentError as exc:  # one line on stderr from main, with the error's own exit code
            raise type(exc)(f"demo failed: {exc}") from exc
        finally:
            env.close()
        from backup_agent.cli import _demo_daemon

        cfg_path.write_text(_demo_daemon.daemon_config(cfg_path.read_text()))
        _demo_daemon.show(cfg_path, out)
    out.write(f"\nDone in {time.monotonic() - t0:.1f} s. Configuration: {cfg_path}\n")
    out.write(f"Try: backup-agent --config {cfg_path} list\n" if args.keep else
              "(temporary store removed; pass --keep DIR to keep it)\n")
    return 0


def _plan_and_drill(env: Any, dep: Any, out: Any) -> None:
    """A plan for a lost Management Node, a drill of it, and the plan again with the drill."""
    from backup_agent.cli.drill import describe
    from backup_agent.jobs.drill import drill
    from backup_agent.jobs.evidence import collect
    from backup_agent.planner import make_plan, parse_evidence

    def plan() -> Any:
        return make_plan(parse_evidence(collect(env, dep, ["management"], env.clock())))

    p = plan()
    clock = p.autonomy
    out.write(f"\nPlan if the Management Node were lost now: {p.priority}, autonomy "
              f"{clock.level}, deadline {clock.to_dict()['deadline']}\n")
    for path in p.paths:
        out.write(f"  {path.number}. {path.kind:16} {'ready' if path.ready else 'NOT ready':9} "
                  f"~{path.estimated_minutes} min  loses: {path.loses}\n")
    run_ = drill(env, dep, "management-lost")
    out.write("\n" + describe(run_) + "\n")
    before = {path.kind: path.estimated_minutes for path in p.paths}
    after = {path.kind: path.estimated_minutes for path in plan().paths}
    out.write("Plan again, estimates from the drill: " + ", ".join(
        f"{kind} ~{after[kind]} min (was ~{before[kind]})" for kind in before if kind in after)
        + "\n")


def _checkpoint(env: Any, dep: Any, out: Any) -> str:
    """The pre-upgrade checkpoint: gates, parts, and the go/no-go."""
    from backup_agent.jobs import checkpoint

    c = checkpoint.create(env, dep, target_version="39.1").summary["checkpoint"]
    passed = sum(g["passed"] for g in c["gates"])
    out.write(f"- pre-upgrade checkpoint {c['id']} (to 39.1): "
              f"{'READY' if c['ready'] else 'NOT READY'}, {passed} of {len(c['gates'])} gates "
              f"passed, {len(c['parts'])} parts verified\n")
    out.writelines(f"    not ready: {r}\n" for r in c["reasons"])
    out.writelines(f"    note: {a}\n" for a in c["advice"])
    return str(c["id"])


def _release(env: Any, sim: Any, ckpt_id: str, out: Any) -> None:
    """The upgrade (simulated), then the checkpoint's snapshots released."""
    from backup_agent.jobs.checkpoint_release import release

    sim.state.set_version("39.1", "82000.0.0")
    result = release(env, ckpt_id)
    out.write(f"- upgraded to 39.1 (simulated); checkpoint release: "
              f"{len(result['deleted'])} snapshot(s) deleted\n")


def _failures(run: Any) -> str:
    fails = run.failures()
    return "" if not fails else " — " + "; ".join(f"{i}: {r}" for i, r in fails)
