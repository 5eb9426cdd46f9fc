"""deploy/: the alerting rules and the dashboard use only metric names the daemon serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from backup_agent.catalog import Run
from backup_agent.daemon.metrics import Metrics
from backup_agent.jobs.env import utcnow

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAME = re.compile(r"\bbackup_agent_[a-z_]+")


def served() -> set[str]:
    m = Metrics(utcnow)
    run = Run("r", "prod", "backup", utcnow(), finished_at=utcnow(), outcome="completed")
    m.observe(run)
    m.catalog("prod", [])
    m.contact("prod", False, utcnow())
    m.oldest_snapshot["prod"] = utcnow()
    m.sent("json-0", True)
    names = set()
    for family in text_string_to_metric_families(m.render().decode()):
        names |= {s.name for s in family.samples}
    return names


def test_rules_parse_and_name_only_served_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "backup-agent-rules.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert len(exprs) >= 8 and all(r["annotations"]["summary"] for g in rules["groups"] for r in g["rules"])
    used = {n for e in exprs for n in NAME.findall(e)}
    assert used and used <= served(), used - served()


def test_dashboard_parses_and_names_only_served_metrics() -> None:
    dash = json.loads((DEPLOY / "grafana" / "backup-agent.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {n for e in exprs for n in NAME.findall(e)}
    assert len(used) >= 8 and used <= served(), used - served()
