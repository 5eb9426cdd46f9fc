"""Read-back verification of off-site copies: every recorded object, or a random subset.

What ``verify --store`` calls (and a scheduled verify of the daemon will).

Without ``read_data`` each object is looked up (present, its size, not modified since it was
written: the agent writes an object once); with it, its bytes are read and hashed against
the catalog. Every verdict is recorded, so a copy that went bad stops being offered by the
planner. A store the credentials cannot read is reported per object, not as a crash.
"""

from __future__ import annotations

import math
import random
from datetime import timedelta
from typing import Any

from backup_agent.catalog import CopyRecord
from backup_agent.errors import StoreError
from backup_agent.jobs.env import Env
from backup_agent.store import Store, hash_stream

CLOCK_SLACK = timedelta(minutes=5)  # between the agent's clock and the store's


def pick(copies: list[CopyRecord], subset: float | None, rng: random.Random) -> list[CopyRecord]:
    """All copies, or ``subset`` (0 < subset <= 1) of them at random, at least one."""
    if subset is None or not copies:
        return copies
    n = max(1, math.ceil(len(copies) * subset))
    return sorted(rng.sample(copies, min(n, len(copies))),
                  key=lambda c: (c.restore_point_id, c.name))


def check_copy(remote: Store, copy: CopyRecord, read_data: bool) -> str | None:
    """None when the object is what the catalog recorded, else what is wrong."""
    try:
        info = remote.stat(copy.key)
        if info is None:
            return "missing"
        if info.size != copy.size:
            return f"size {info.size} != {copy.size}"
        if info.sha256 and info.sha256 != copy.sha256:
            return "sha256 mismatch"
        if info.mtime > copy.copied_at + CLOCK_SLACK:
            return f"changed after it was copied (modified {info.mtime:%Y-%m-%dT%H:%M:%SZ})"
        if read_data:
            with remote.open(copy.key) as fh:
                size, sha = hash_stream(fh)
            if size != copy.size:
                return f"size {size} != {copy.size}"
            if sha != copy.sha256:
                return "sha256 mismatch"
    except StoreError as exc:
        return f"cannot read it back: {exc}"
    return None


def verify_copies(env: Env, store_name: str, remote: Store, read_data: bool = False,
                  subset: float | None = None, rng: random.Random | None = None,
                  deployment: str | None = None) -> list[dict[str, Any]]:
    """Check the copies recorded for ``store_name``; one result per object, verdicts recorded."""
    copies = [c for c in env.catalog.copies(store_name)
              if deployment is None or c.key.startswith(f"{deployment}/")]
    results = []
    for copy in pick(copies, subset, rng or random.SystemRandom()):
        problem = check_copy(remote, copy, read_data)
        env.catalog.set_copy_verified(copy.restore_point_id, store_name, copy.name,
                                      problem is None, env.clock())
        results.append({"restore_point": copy.restore_point_id, "name": copy.name,
                        "key": copy.key, "location": remote.location(copy.key),
                        "ok": problem is None, "problem": problem})
    _unverify_lost(env, {str(r["restore_point"]) for r in results if not r["ok"]})
    return results


def _unverify_lost(env: Env, rp_ids: set[str]) -> None:
    """A restore point whose local bytes are gone and whose copy is bad is no restore point."""
    from backup_agent.jobs.fetch import missing, offsite_source

    for rp_id in rp_ids:
        rp = env.catalog.restore_point(rp_id)
        if rp.verified and missing(env, rp) and offsite_source(env, rp) is None:
            env.catalog.set_verified(rp_id, False)


def parse_subset(text: str) -> float:
    """``10%`` (or ``0.1``) as a fraction in (0, 1]; ValueError otherwise."""
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0 < value <= 1:
        raise ValueError(text)
    return value
