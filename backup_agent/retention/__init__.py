"""Retention: pure functions, like the planner (no I/O; ``now`` is passed in).

``policy.apply`` decides; ``settings`` reads ``[retention]`` tables into policies. The job that
acts on a decision (store, catalog, providers) is ``backup_agent/jobs/retention.py``.
"""

from backup_agent.retention.policy import RULE_KEYS, Point, Policy, Result, apply, keep_unexpired
from backup_agent.retention.settings import KINDS, RetentionSettings, parse_retention

__all__ = ["KINDS", "RULE_KEYS", "Point", "Policy", "Result", "RetentionSettings", "apply",
           "keep_unexpired", "parse_retention"]
