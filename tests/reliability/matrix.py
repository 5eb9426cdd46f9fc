"""The fault matrix: every job against every fault, each cell a real run of the CLI.

Each cell is a ``backup-agent`` process run on its own copy of a seeded storage (two config
backups, a room export, an inventory) against the simulator over HTTP, through a
:class:`~tests.reliability.faultproxy.FaultProxy` that puts the fault on the request that
matters to the job (the backup download, the room list, the restore's upload). What a cell
records: the exit code, the run's outcome in the catalog and a short tag of its reason; what
it checks: no traceback, no secret in stdout, stderr or any file of the storage, ``verify``
passing afterwards (nothing recorded with missing or wrong bytes), no restore point made by a
run that did not complete and none missing from one that did, no run left without an
outcome (but after SIGKILL, where the next run must complete).

``python -m tests.reliability.matrix`` prints the table; ``--write-docs`` writes it into
docs/reliability.md between its markers (``test_fault_matrix.py`` fails when they differ).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from backup_agent import config as config_mod
from backup_agent.jobs import orphans
from backup_agent.jobs.env import Env
from backup_agent.service.verify import verify
from backup_agent.sim import SimOptions, Simulator
from tests.jobs.conftest import PASSPHRASE, PASSWORD
from tests.reliability import matrix_copy
from tests.reliability.faultproxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- fault-matrix:begin -->", "<!-- fault-matrix:end -->"
DOWNLOAD = "system_backup/pexip_backup"


@dataclass(frozen=True)
class Job:
    name: str
    argv: tuple[str, ...]
    run_job: str | None  # its row in the catalog's runs ("restore": the restore journal)
    made: str | None  # the restore-point kind a completed run makes
    path: str | None  # where a node fault lands; None: the job reaches no Management Node
    target: bool = False  # the node is the restore's --target-url, not the deployment's
    store: bool = False  # the far side is the off-site store (matrix_copy), not the node


JOBS = (
    Job("backup", ("backup", "--json"), "backup", "config-backup", DOWNLOAD),
    Job("export", ("export", "--json"), "export", "room-export", "configuration/v1/conference/"),
    Job("checkpoint", ("checkpoint", "create", "--json"), "checkpoint", "checkpoint", DOWNLOAD),
    Job("prune", ("prune", "--json"), "retention", None, None),
    Job("verify", ("verify", "--json"), None, None, None),
    Job("restore", ("restore", "--failed", "management", "--yes", "--json"), "restore", None,
        "backup_restore", target=True),
    Job("drill", ("drill", "--json"), "drill", None, None),
    Job("copy", ("copy", "--json"), "copy", None, matrix_copy.PATH, store=True),
)
#: column -> (proxy fault, how many times); the others are applied by the cell itself.
NODE_FAULTS = {"5xx once": ("503", 1), "429 once": ("429", 1),
               "429 no Retry-After": ("429-bare", 1), "Retry-After past cap": ("429-long", 10**6),
               "5xx always": ("503", 10**6), "cut mid-body": ("cut", 10**6),
               "garbage answer": ("garbage", 10**6), "stalled past timeout": ("stall", 10**6),
               "trickle past deadline": ("trickle", 10**6)}
#: Faults on the Management Node's address itself: every request of the run meets them.
ADDRESS_FAULTS = ("TLS untrusted", "TLS wrong host", "DNS failure")
#: Faults on the hypervisor of the sim provider (the checkpoint's snapshots).
PROVIDER_FAULTS = ("provider task failing", "provider timeout")
FAULTS = ("none", "node down", *NODE_FAULTS, "wrong sha256", *ADDRESS_FAULTS, "store unwritable",
          "disk full", "catalog locked", *PROVIDER_FAULTS, "SIGTERM", "SIGKILL")
NA = "n/a"
#: The cells that take longest (a deadline or the store's own retries): started first.
SLOW = ("Retry-After past cap", "trickle past deadline", "stalled past timeout", "5xx always",
        "node down", "garbage answer", "SIGKILL", "provider timeout")
#: A host name that never resolves (RFC 6761 reserves ``.invalid``).
UNRESOLVABLE = "https://mgr01.backup-agent.invalid"
#: Why a cell is not run (shown in the table's notes).
NOT_APPLICABLE = {
    ("export", "trickle past deadline"): "a JSON page has the 600 s whole-answer deadline",
    ("restore", "trickle past deadline"): "the upload's answer is a few bytes",
    ("copy", "stalled past timeout"): "the S3 client's read timeout is 60 s",
    ("copy", "trickle past deadline"): "the S3 client's read timeout is 60 s",
    ("copy", "TLS wrong host"): "an S3 copy has no ca_bundle setting",
}
TAGS = (  # first match wins: (pattern in the reason or stderr, tag)
    ("interrupted", "interrupted"), (r"\bTLS\b", "TLS"), ("host name not found", "DNS"),
    (r"asks to wait \d+ s", "Retry-After cap"), (r"snapshot \S+ of \S+ failed", "task failed"),
    (r"snapshot \S+ of \S+ not done after", "provider timeout"), ("no data within|no answer within", "timeout"), ("cannot connect|connection refused|unreachable", "unreachable"),
    ("deadline", "deadline"), ("timed out|timeout", "timeout"), ("HTTP 503", "HTTP 503"),
    ("HTTP 429", "HTTP 429"), ("File too large|No space|disk full", "disk full"),
    (r"Not a directory|\bstore\b", "store"), (r"\bmissing\b", "missing"), ("sha256|hash|no longer matches", "wrong hash"),
    ("cut|incomplete|IncompleteRead|ended after|closed|reset|Connection aborted", "cut"),
    ("JSON|not valid|unexpected|answer", "bad answer"), ("locked", "locked"),
    (r"HTTP 5\d\d", "HTTP 5xx"),
)


@dataclass
class Cell:
    job: str
    fault: str
    exit: int | None = None
    outcome: str | None = None
    tag: str = ""
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unchanged: bool = False
    stderr: str = ""
    run_seconds: float = 0.0  # the agent's run alone
    handshakes: int = 0  # connections opened to the proxy (counted when it serves TLS)

    def text(self) -> str:
        if self.exit is None:
            return NA
        words = [self.outcome or "no run", f"exit {self.exit}"]
        return " · ".join([*words, self.tag] if self.tag else words)


def tag_of(text: str) -> str:
    for pattern, tag in TAGS:
        if re.search(pattern, text, re.IGNORECASE):
            return tag
    return "other"


def applies(job: Job, fault: str) -> bool:
    if (job.name, fault) in NOT_APPLICABLE:
        return False
    if fault in NODE_FAULTS or fault in ADDRESS_FAULTS or fault in ("SIGTERM", "SIGKILL"):
        return job.path is not None
    if fault in PROVIDER_FAULTS:
        return job.name == "checkpoint"
    return True


def stored_corrupt(job: Job, fault: str) -> bool:
    """Wrong sha256 for a job that downloads no backup: its stored files no longer hash."""
    return fault == "wrong sha256" and job.path != DOWNLOAD


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


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


@contextmanager
def _catalog_locked(where: Path, seconds: float) -> Iterator[None]:
    """Another process's write transaction on the catalog, held ``seconds`` into the run."""
    db = sqlite3.connect(where / "var" / "catalog.db", isolation_level=None,
                         check_same_thread=False)
    db.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(seconds, db.rollback)
    timer.start()
    try:
        yield
    finally:
        timer.join()
        db.close()


def run_cell(b: Bench, job: Job, fault: str, workdir: Path) -> Cell:
    cell = Cell(job.name, fault)
    if not applies(job, fault):
        return cell
    t0 = time.monotonic()
    where = workdir / f"{job.name}-{fault}".replace(" ", "-")
    shutil.copytree(b.seed, where, ignore=shutil.ignore_patterns("agent.toml"))
    with ExitStack() as stack:
        # A node of the cell's own (the same seeded deployment): two backups taken of one
        # simulator in the same second race for one file name. A provider that times out:
        # its snapshots take longer than the provider's timeout (1 s).
        opts = replace(b.opts, snapshot_seconds=3.0) if fault == "provider timeout" else b.opts
        own = job.path is not None and not (job.target or job.store)
        sim = stack.enter_context(Simulator(opts)) if own else b.sim
        if fault == "provider task failing":
            sim.hypervisor.fail_next(100, "the datastore is full")
        target = sim.url
        bucket = None
        if job.store:
            if b.moto is None:
                cell.problems.append("moto_server is not installed (pip install 'moto[server]')")
                return cell
            target, bucket = b.moto, matrix_copy.new_bucket(b.moto)
        if job.target:
            target = stack.enter_context(Simulator(SimOptions(empty=True, password=PASSWORD))).url
        if fault == "node down":
            target = closed_port_url()
        proxy = _proxy(stack, job, fault, target)
        if proxy is not None:
            target = proxy.url
        if fault == "DNS failure":
            target = UNRESOLVABLE
        argv = list(job.argv)
        if job.target:
            argv += ["--path", b.restore_path, "--target-url", target]
        ca = None
        if proxy is not None and proxy.ca_file is not None and fault == "TLS wrong host":
            ca = shutil.copy(proxy.ca_file, where / "ca.pem")  # outlives the proxy's own
        cfg = write_config(where, sim.url if job.target or job.store else target, sim.url, b.nodes,
                           1.0 if fault == "provider timeout" else None, ca,
                           (target, bucket) if bucket else None)
        before, runs_before = _state(where, job)
        moved = _store_unwritable(where, job) if fault == "store unwritable" else None
        corrupted = _corrupt_store(where) if stored_corrupt(job, fault) else {}
        if fault == "catalog locked":
            stack.enter_context(_catalog_locked(where, 2.0))
        started = time.monotonic()
        p = cli(cfg, *argv, fsize=(200 << 10) if fault == "disk full" else None)
        if fault in ("SIGTERM", "SIGKILL") and proxy is not None:
            if proxy.held.wait(60):
                p.send_signal(signal.SIGTERM if fault == "SIGTERM" else signal.SIGKILL)
            else:
                cell.problems.append("the run never reached the faulted request")
        out, err = p.communicate(timeout=120)
        cell.run_seconds = time.monotonic() - started
        cell.stderr = err
        made, runs = _state(where, job)
        if proxy is not None:  # the fault is over
            cell.handshakes = proxy.handshakes
            proxy.fault = None
            proxy.release(drop=True)
        direct = (b.moto, bucket) if b.moto and bucket else None  # the store, no fault
        if fault == "SIGKILL":
            _next_run_completes(cell, job, where, b, target if job.target else sim.url, sim.url,
                                direct)
    if moved is not None:
        moved[0].unlink()
        moved[1].rename(moved[0])
    for f, data in corrupted.items():  # the store as it was, for the checks after the cell
        if f.exists():
            f.write_bytes(data)
    cell.exit = p.returncode
    new = runs[len(runs_before):]
    if fault == "SIGKILL":  # nothing in the process can record a kill
        cell.outcome, cell.tag = (new[-1][0] or "unfinished") if new else None, "killed"
    elif new:
        cell.outcome, reasons = new[-1]
        cell.unchanged = reasons.endswith(" unchanged")
        cell.tag = "" if cell.outcome == "completed" else tag_of(reasons or err)
    elif p.returncode:
        cell.tag = tag_of(err)
    if direct is not None:  # the checks read the store directly, the fault gone
        write_config(where, sim.url, sim.url, b.nodes, copy=direct)
    _check(cell, job, where, out, err, made - before)
    cell.seconds = time.monotonic() - t0
    return cell


def _proxy(stack: ExitStack, job: Job, fault: str, target: str) -> FaultProxy | None:
    """The fault-injecting proxy in front of the node, for the faults it serves."""
    if fault in NODE_FAULTS:
        kind, count = NODE_FAULTS[fault]
    elif fault in ("SIGTERM", "SIGKILL"):
        kind, count = "hold", 10**6
    elif fault == "wrong sha256" and not stored_corrupt(job, fault):
        kind, count = "corrupt", 10**6
    elif fault in ("none", "TLS untrusted", "TLS wrong host"):
        kind, count = None, 0
    else:
        return None
    tls = fault[len("TLS "):] if fault.startswith("TLS ") else None
    return stack.enter_context(FaultProxy(target, kind, job.path or "/api/", count, tls=tls))


def _corrupt_store(where: Path) -> dict[Path, bytes]:
    """Flip bytes in the middle of every stored file (config backups, room exports): each no
    longer hashes to what the catalog recorded. Returns the original bytes to put back."""
    originals = {}
    for f in sorted((where / "var" / "store").rglob("*")):
        if f.is_file() and not f.name.startswith(".") and f.stat().st_size:
            data = f.read_bytes()
            mid = len(data) // 2
            f.write_bytes(data[:mid] + bytes(x ^ 0xFF for x in data[mid:mid + 16]) + data[mid + 16:])
            originals[f] = data
    return originals


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


def _store_unwritable(where: Path, job: Job) -> tuple[Path, Path]:
    """A file where the store's directory must be: no write (or read) under it works, whoever
    the test runs as (root ignores modes; a file inside the store would be swept as an orphan)."""
    d = where / "var" / "store"
    aside = d.with_name("store.aside")
    d.rename(aside)
    d.write_text("not a directory\n")
    return d, aside


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


def run_matrix(workers: int = 8, only: str | None = None) -> list[Cell]:
    """Every cell (or those whose ``job:fault`` contains ``only``), ``workers`` at a time."""
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp, bench(Path(tmp)) as b, \
            ThreadPoolExecutor(workers) as pool:
        cells = [(job, fault) for job in JOBS for fault in FAULTS
                 if only is None or only in f"{job.name}:{fault}"]
        # The slowest first, so that none of them starts last and holds the whole run.
        order = sorted(cells, key=lambda jf: (jf[1] not in SLOW, not jf[0].store))
        done = dict(zip(order, pool.map(lambda jf: run_cell(b, jf[0], jf[1], Path(tmp)), order),
                        strict=True))
        return [done[jf] for jf in cells]


def render(cells: list[Cell]) -> str:
    by = {(c.job, c.fault): c.text() for c in cells}
    lines = ["| job | " + " | ".join(FAULTS) + " |", "|---" * (len(FAULTS) + 1) + "|"]
    lines += ["| " + " | ".join([j.name, *(by[(j.name, f)] for f in FAULTS)]) + " |" for j in JOBS]
    lines += ["", "Not run (n/a): faults on the Management Node or its address for jobs that do "
              "not reach it; provider faults for jobs that take no snapshot; "
              + "; ".join(f"{f} for {j}: {why}" for (j, f), why in NOT_APPLICABLE.items()) + "."]
    return "\n".join(lines)


def doc_table(doc: str) -> str:
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    return doc[start:end].strip("\n")


def write_docs(table: str) -> None:
    doc = DOC.read_text()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:start] + "\n" + table + "\n" + doc[end:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.reliability.matrix", description=__doc__)
    ap.add_argument("--write-docs", action="store_true", help=f"write the table into {DOC.name}")
    ap.add_argument("--workers", type=int, default=8, help="cells at once (most of a copy "
                    "cell's time is its retries' pauses)")
    ap.add_argument("--only", metavar="JOB:FAULT", help="only the cells whose JOB:FAULT contains this")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    cells = run_matrix(args.workers, args.only)
    if args.only:
        for c in cells:
            print(f"{c.job} x {c.fault}: {c.text()} ({c.seconds:.1f} s)\n{c.stderr}")
    else:
        print(render(cells))
    bad = [c for c in cells if c.problems]
    for c in bad:
        print(f"PROBLEM {c.job} x {c.fault}: {'; '.join(c.problems)}", file=sys.stderr)
    ran = sum(c.exit is not None for c in cells)
    for c in sorted(cells, key=lambda c: -c.seconds)[:8]:
        print(f"slowest: {c.job} x {c.fault}: {c.seconds:.1f} s", file=sys.stderr)
    print(f"\n{ran} cells run in {time.monotonic() - t0:.1f} s, {len(bad)} with problems",
          file=sys.stderr)
    if args.write_docs and not args.only:
        write_docs(render(cells))
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    sys.exit(main())
