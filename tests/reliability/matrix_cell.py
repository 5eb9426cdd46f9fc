"""One cell of the fault matrix: a seeded storage copied, the fault put in place, the agent's
process run through it, then what the cell records and checks (see :mod:`tests.reliability.matrix`).
The faults the cell puts in place itself are :mod:`tests.reliability.matrix_faults`.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from backup_agent import config as config_mod
from backup_agent.jobs import orphans
from backup_agent.jobs.env import Env
from backup_agent.service.verify import verify
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSPHRASE, PASSWORD
from tests.reliability import matrix_copy, matrix_faults
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.matrix_table import UNRESOLVABLE, Cell, Job, applies, tag_of

ROOT = Path(__file__).resolve().parents[2]


def write_config(where: Path, url: str, sim_url: str, nodes: tuple[str, ...],
                 provider_timeout: float | None = None, ca_bundle: str | Path | None = None,
                 copy: tuple[str, str] | None = None) -> Path:
    """agent.toml: deployment ``prod`` at ``url``, its nodes on the sim provider at ``sim_url``."""
    (where / "pw").write_text(PASSWORD + "\n")
    (where / "pp").write_text(PASSPHRASE)
    lines = [f'[storage]\npath = "{where / "var"}"\n', "[retention]\nkeep_last = 1\n",
             "[[deployments]]", 'name = "prod"', f'url = "{url}"',
             f'password_file = "{where / "pw"}"', f'passphrase_file = "{where / "pp"}"',
             "retries = 1", "timeout = 1"]
    if ca_bundle is not None:  # the CA is trusted: what fails is the name on the certificate
        lines.append(f'ca_bundle = "{ca_bundle}"')
    for i, name in enumerate(nodes):
        lines += ["[[deployments.nodes]]", f'name = "{name}"',
                  f'role = "{"management" if i == 0 else "conferencing"}"',
                  'provider = "simhv"', f'vm = "{name}"']
    lines += ["[providers.simhv]", 'type = "sim"', f'url = "{sim_url}"',
              f'password_file = "{where / "pw"}"']
    if provider_timeout is not None:
        lines.append(f"timeout = {provider_timeout}")
    if copy is not None:  # (endpoint, bucket)
        lines += matrix_copy.section(where, *copy)
    cfg = where / "agent.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def cli(cfg: Path, *args: str, fsize: int | None = None) -> subprocess.Popen[str]:
    """The agent as its own process; ``fsize`` caps the size of any file it writes (a full disk
    that a root test process cannot fake with modes)."""
    argv = [sys.executable, "-m", "backup_agent.cli.main", "--config", str(cfg), *args]
    if fsize is not None:
        prelude = ("import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, "
                   f"signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize}));"
                   f" sys.argv = {argv[2:]!r}; runpy.run_module('backup_agent.cli.main', "
                   "run_name='__main__')")
        argv = [sys.executable, "-c", prelude]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def run(cfg: Path, *args: str) -> tuple[int, str, str]:
    p = cli(cfg, *args)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


def restore_path(cfg: Path) -> str:
    code, out, err = run(cfg, "plan", "--json", "--failed", "management")
    assert code == 0, err
    paths = json.loads(out)["paths"]
    return str(next(i for i, p in enumerate(paths, 1) if p["kind"] == "restore-backup"))


@dataclass
class Bench:
    """The seeded storage and the simulator every cell starts from."""

    sim: Simulator
    opts: SimOptions
    seed: Path
    restore_path: str
    nodes: tuple[str, ...]
    moto: str | None  # moto_server's URL (the copy row's off-site store)


@contextmanager
def bench(workdir: Path) -> Iterator[Bench]:
    opts = SimOptions(rooms=60, aliases_per_room=2, conferencing_nodes=2, password=PASSWORD,
                      backup_request_seconds=0.05, backup_padding_bytes=256 << 10)
    with Simulator(opts) as sim, matrix_copy.moto() as moto:
        seed = workdir / "seed"
        seed.mkdir()
        nodes = (opts.management_name, *(w["name"] for w in sim.state.worker_status()))
        cfg = write_config(seed, sim.url, sim.url, nodes)
        for job in ("backup", "backup", "export"):
            code, _, err = run(cfg, job)
            assert code == 0, err
        yield Bench(sim, opts, seed, restore_path(cfg), nodes, moto)


def _db(where: Path) -> sqlite3.Connection:
    return sqlite3.connect(where / "var" / "catalog.db", timeout=30)


def _state(where: Path, job: Job) -> tuple[int, list[tuple[str | None, str]]]:
    """(restore points of the kind the job makes, [(outcome, reasons)] of its runs)."""
    with _db(where) as db:
        # A checkpoint that is not ready is recorded as such: only a ready one counts as made.
        made = db.execute("SELECT COUNT(*) FROM restore_points WHERE kind=? AND deleted_at IS NULL"
                          " AND (kind != 'checkpoint' OR json_extract(data, '$.ready'))",
                          (job.made,)).fetchone()[0]
        if job.run_job == "restore":
            rows = db.execute("SELECT state, COALESCE((SELECT group_concat(detail, ' ') FROM "
                              "restore_steps WHERE restore_id=r.id AND state='failed'), '') "
                              "FROM restores r ORDER BY started_at").fetchall()
        else:
            rows = db.execute("SELECT outcome, COALESCE((SELECT group_concat(reason, ' ') FROM "
                              "run_items WHERE run_id=r.id AND outcome='failed'), ''), "
                              "(SELECT COUNT(*) FROM run_items WHERE run_id=r.id AND "
                              "outcome='unchanged') FROM runs r WHERE job=? ORDER BY started_at",
                              (job.run_job,)).fetchall()
    # An export whose rooms did not change makes no new restore point: it is "unchanged".
    return made, [(r[0], r[1] + (" unchanged" if len(r) > 2 and r[2] else "")) for r in rows]


def _leaks(where: Path, *texts: str) -> list[str]:
    secrets = (PASSWORD, PASSPHRASE)
    found = [f"a secret in {name}" for name, t in zip(("stdout", "stderr"), texts, strict=False)
             if any(s in t for s in secrets)]
    for f in (where / "var").rglob("*"):
        if f.is_file() and any(s.encode() in f.read_bytes() for s in secrets):
            found.append(f"a secret in {f.relative_to(where)}")
    return found


def run_cell(b: Bench, job: Job, fault: str, workdir: Path) -> Cell:
    """The job run once with the fault on its own copy of the seeded storage, then judged. What
    needs the cell's simulators and proxy (the run; after a SIGKILL, the next run) happens while
    the stack holds them; the store is put back and the outcome read once they are gone."""
    cell = Cell(job.name, fault)
    if not applies(job, fault):
        return cell
    t0 = time.monotonic()
    where = workdir / f"{job.name}-{fault}".replace(" ", "-")
    shutil.copytree(b.seed, where, ignore=shutil.ignore_patterns("agent.toml"))
    with ExitStack() as stack:
        arranged = _arrange(stack, b, job, fault, where)
        if arranged is None:
            cell.problems.append("moto_server is not installed (pip install 'moto[server]')")
            return cell
        before, runs_before = _state(where, job)
        store_changes = matrix_faults.put_storage_faults(stack, where, job, fault)
        code, out, err = _run_faulted(cell, arranged)
        made, runs = _state(where, job)
        direct = _after_the_fault(cell, b, job, where, arranged)
    store_changes.undo()  # the store as it was, for the checks after the cell
    _read_outcome(cell, code, runs[len(runs_before):], err)
    if direct is not None:  # the checks read the store directly, the fault gone
        write_config(where, arranged.sim.url, arranged.sim.url, b.nodes, copy=direct)
    _check(cell, job, where, out, err, made - before)
    cell.seconds = time.monotonic() - t0
    return cell


@dataclass
class Arranged:
    """What a cell's run goes to: the deployment's simulator, the far side the job reaches
    (the node, a restore's target or the off-site store; the proxy's URL when there is one)."""

    sim: Simulator
    target: str
    bucket: str | None  # the copy's bucket on the off-site store
    proxy: FaultProxy | None
    argv: list[str]
    cfg: Path


def _arrange(stack: ExitStack, b: Bench, job: Job, fault: str, where: Path) -> Arranged | None:
    """The cell's simulator, far side, proxy, command and agent.toml, whatever they need kept
    alive entered on ``stack``; None when the far side is S3 and moto_server is missing."""
    sim = _cell_sim(stack, b, job, fault)
    far = _far_side(stack, b, job, fault, sim)
    if far is None:
        return None
    target, bucket = far
    proxy = matrix_faults.proxy_for(stack, job, fault, target)
    if proxy is not None:
        target = proxy.url
    if fault == "DNS failure":
        target = UNRESOLVABLE
    argv = list(job.argv)
    if job.target:
        argv += ["--path", b.restore_path, "--target-url", target]
    cfg = _cell_config(where, b, job, fault, sim, target, bucket, proxy)
    return Arranged(sim, target, bucket, proxy, argv, cfg)


def _cell_sim(stack: ExitStack, b: Bench, job: Job, fault: str) -> Simulator:
    """The simulator the deployment runs on. A job that reaches the node has one of its own (the
    same seeded deployment): two backups taken of one simulator in the same second race for one
    file name. A provider that times out: its snapshots take longer than its timeout (1 s)."""
    opts = replace(b.opts, snapshot_seconds=3.0) if fault == "provider timeout" else b.opts
    own = job.path is not None and not (job.target or job.store)
    sim = stack.enter_context(Simulator(opts)) if own else b.sim
    if fault == "provider task failing":
        sim.hypervisor.fail_next(100, "the datastore is full")
    return sim


def _far_side(stack: ExitStack, b: Bench, job: Job, fault: str,
              sim: Simulator) -> tuple[str, str | None] | None:
    """(URL, bucket) of what the run reaches, before any proxy: the deployment's node, a new
    bucket on the off-site store (None without moto), an empty node a restore targets, or a
    closed port for a node that is down."""
    target, bucket = sim.url, None
    if job.store:
        if b.moto is None:
            return None
        target, bucket = b.moto, matrix_copy.new_bucket(b.moto)
    if job.target:
        target = stack.enter_context(Simulator(SimOptions(empty=True, password=PASSWORD))).url
    if fault == "node down":
        target = matrix_faults.closed_port_url()
    return target, bucket


def _cell_config(where: Path, b: Bench, job: Job, fault: str, sim: Simulator, target: str,
                 bucket: str | None, proxy: FaultProxy | None) -> Path:
    """agent.toml for the run. When the far side is a restore's target or the store, the
    deployment itself is the simulator, reached without the fault."""
    ca = None
    if proxy is not None and proxy.ca_file is not None and fault == "TLS wrong host":
        ca = shutil.copy(proxy.ca_file, where / "ca.pem")  # outlives the proxy's own
    return write_config(where, sim.url if job.target or job.store else target, sim.url, b.nodes,
                        1.0 if fault == "provider timeout" else None, ca,
                        (target, bucket) if bucket else None)


def _run_faulted(cell: Cell, arranged: Arranged) -> tuple[int, str, str]:
    """The agent's process run through the fault: (exit, stdout, stderr). A signal is sent only
    once the proxy holds the faulted request, so that it lands mid-run."""
    fault, proxy = cell.fault, arranged.proxy
    started = time.monotonic()
    p = cli(arranged.cfg, *arranged.argv, fsize=(200 << 10) if fault == "disk full" else None)
    if fault in ("SIGTERM", "SIGKILL") and proxy is not None:
        if proxy.held.wait(60):
            p.send_signal(signal.SIGTERM if fault == "SIGTERM" else signal.SIGKILL)
        else:
            cell.problems.append("the run never reached the faulted request")
    out, err = p.communicate(timeout=120)
    cell.run_seconds = time.monotonic() - started
    cell.stderr = err
    return p.returncode, out, err


def _after_the_fault(cell: Cell, b: Bench, job: Job, where: Path,
                     arranged: Arranged) -> tuple[str, str] | None:
    """Ends the fault at the proxy and, after a SIGKILL, runs the job again while the cell's
    simulators and proxy still serve it. Returns the off-site store (endpoint, bucket) that a
    copy cell's checks read directly, without the proxy."""
    proxy = arranged.proxy
    if proxy is not None:  # the fault is over
        cell.handshakes = proxy.handshakes
        proxy.fault = None
        proxy.release(drop=True)
    direct = (b.moto, arranged.bucket) if b.moto and arranged.bucket else None  # the store, no fault
    if cell.fault == "SIGKILL":
        sim = arranged.sim.url
        _next_run_completes(cell, job, where, b, arranged.target if job.target else sim, sim, direct)
    return direct


def _read_outcome(cell: Cell, code: int, new: list[tuple[str | None, str]], err: str) -> None:
    """The exit, and the outcome and reason's tag of the last run the cell recorded (``new``:
    its runs, or its restore's journal rows); with no run, the tag of its stderr."""
    cell.exit = code
    if cell.fault == "SIGKILL":  # nothing in the process can record a kill
        cell.outcome, cell.tag = (new[-1][0] or "unfinished") if new else None, "killed"
    elif new:
        cell.outcome, reasons = new[-1]
        cell.unchanged = reasons.endswith(" unchanged")
        cell.tag = "" if cell.outcome == "completed" else tag_of(reasons or err)
    elif code:
        cell.tag = tag_of(err)


def _next_run_completes(cell: Cell, job: Job, where: Path, b: Bench, url: str, sim: str,
                        copy: tuple[str, str] | None) -> None:
    """After a SIGKILL the next run, with the fault gone, must succeed (a restore resumes)."""
    if job.target:
        cfg = write_config(where, sim, sim, b.nodes)
        argv = ["restore", "--resume", "--yes", "--target-url", url]
    else:
        cfg, argv = write_config(where, url, sim, b.nodes, copy=copy), list(job.argv)
    code, _, err = run(cfg, *argv)
    if code != 0:
        cell.problems.append(f"the run after the kill failed: {err[-300:]}")
    cell.stderr += f"\n--- the next run: exit {code}\n{err}"


def _check(cell: Cell, job: Job, where: Path, out: str, err: str, made: int) -> None:
    cfg = where / "agent.toml"
    if "Traceback" in err or "internal error" in err:
        cell.problems.append(f"a traceback or internal error: {err[-300:]}")
    cell.problems += _leaks(where, out, err)
    if job.made and cell.outcome not in ("completed", "partially_failed") and made > 0:
        cell.problems.append(f"{made} {job.made} recorded by a run that {cell.outcome or 'died'}")
    if job.made and cell.outcome == "completed" and made < 1 and not cell.unchanged:
        cell.problems.append(f"completed but no {job.made} recorded")
    if job.run_job and cell.exit == 0 and cell.outcome != "completed":
        cell.problems.append(f"exit 0 for a run that is {cell.outcome}")
    if cell.fault != "SIGKILL" and job.run_job and job.run_job != "restore" and cell.exit is not None and cell.outcome is None \
            and cell.exit == 0:
        cell.problems.append("exit 0 and no run recorded")
    if job.store:
        _check_copies(cell, cfg)
    bad = _verify(cfg)
    if job.name == "prune" and bad:  # hidden first, then deleted: the next prune deletes
        run(cfg, "prune")            # what this one could not
        bad = _verify(cfg)
    cell.problems += [f"after the cell: {b}" for b in bad]


def _check_copies(cell: Cell, cfg: Path) -> None:
    """Every copy the catalog records is in the store and hashes; a completed copy made some."""
    code, out, err = run(cfg, "verify", "--store", matrix_copy.STORE, "--read-data", "--json")
    if code != 0:
        cell.problems.append(f"verify --store: exit {code}: {(out + err)[-300:]}")
    with Env.open(config_mod.load(cfg)) as env:
        recorded = env.catalog.copies(matrix_copy.STORE)
    if cell.outcome == "completed" and not recorded:
        cell.problems.append("copy completed but no copy recorded")


def _verify(cfg: Path) -> list[str]:
    """What ``verify`` would report: restore points that do not hash, orphans."""
    with Env.open(config_mod.load(cfg)) as env:
        bad = [f"{v.id}: {'; '.join(v.problems)}" for v in verify(env) if not v.ok]
        return bad + [f"orphan {o.key}" for o in orphans.find(env, "prod")]
