"""The fault matrix's table: its rows (the jobs), its columns (the faults), which cells apply,
and what a cell records and how its reason reads as a tag. Running a cell is
:mod:`tests.reliability.matrix_cell`; the whole matrix and its table in the docs,
:mod:`tests.reliability.matrix`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.reliability import matrix_copy

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
