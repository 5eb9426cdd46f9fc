"""What a finished run says about each alert condition, and the autonomy clock from contact.

Conditions are ``(key, state, message)``; state None means all is well. The alerter turns
changes of state into notifications; this module only reads runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from backup_agent.catalog import Run
from backup_agent.planner.clock import AUTONOMY, CRITICAL_WITHIN

Condition = tuple[str, str | None, str]
AUDIT_KEYS = {"snapshots": ("snapshot-past-age", "agent snapshots are within their age"),
              "backup-age": ("stale", "a recent verified config backup exists again"),
              "checkpoint-age": ("checkpoint-past-age",
                                 "no unreleased checkpoint's snapshots are past their age"),
              "autobackup": ("autobackup-disabled", "the node's built-in autobackup is enabled")}


def from_run(run: Run) -> list[Condition]:
    """The conditions a finished run of any job except ``watch`` decides."""
    if run.job == "audit":
        out = []
        for item, (key, fine) in AUDIT_KEYS.items():
            outcome, reason = run.items.get(item, ("skipped", None))
            if outcome == "skipped":
                continue
            out.append((key, "active" if outcome == "failed" else None, reason or fine))
        return out
    if run.outcome == "completed":
        return [(run.job, None, f"{run.job} completed again")]
    reasons = "; ".join(f"{item}: {reason}" for item, reason in run.failures()) or "no item succeeded"
    return [(run.job, run.outcome or "failed", f"{run.job} {run.outcome}: {reasons}")]


def autonomy(up: bool, last_contact: datetime | None, now: datetime,
             critical: timedelta = CRITICAL_WITHIN) -> tuple[datetime | None, Condition]:
    """The deadline (while unreachable) and the ``autonomy`` condition after a probe."""
    if up:
        return None, ("autonomy", None, "the Management Node answers again: the autonomy clock stopped")
    if last_contact is None:
        return None, ("autonomy", "unreachable",
                      "the Management Node is unreachable and was never reached: the autonomy "
                      "clock cannot be told")
    deadline = last_contact + AUTONOMY
    left = deadline - now
    hours = left.total_seconds() / 3600
    if left <= timedelta(0):
        return deadline, ("autonomy", "expired",
                          f"autonomy clock EXPIRED at {deadline:%Y-%m-%dT%H:%M:%SZ}: Conferencing "
                          f"Nodes have been without their Management Node for 14 days")
    level = "critical" if left <= critical else "started"
    return deadline, ("autonomy", level,
                      f"Management Node unreachable since its last contact at "
                      f"{last_contact:%Y-%m-%dT%H:%M:%SZ}: autonomy clock {level}, Conferencing "
                      f"Nodes run on their own until {deadline:%Y-%m-%dT%H:%M:%SZ} ({hours:.1f} h left)")
