"""The restore-path planner: evidence in, plan out. Pure functions, no I/O.

It imports nothing of the client, providers, store or catalog; ``backup-agent plan`` and the
replay feed it evidence and render what it returns.
"""

from backup_agent.planner.clock import Autonomy, autonomy_clock
from backup_agent.planner.evidence import Evidence, parse_evidence
from backup_agent.planner.plan import Plan, make_plan
from backup_agent.planner.runbook import to_json, to_markdown

__all__ = ["Autonomy", "Evidence", "Plan", "autonomy_clock", "make_plan", "parse_evidence",
           "to_json", "to_markdown"]
