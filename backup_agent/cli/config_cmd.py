"""``backup-agent config check [--json]``: validate agent.toml and print the effective one.

Secrets are shown by where they come from (an environment variable or a file), never by
value; apprise URLs by their scheme only (they hold tokens). Each schedule has its next run.
"""

from __future__ import annotations

import argparse
from typing import Any

from backup_agent.catalog import iso
from backup_agent.cli.common import Context, add_json
from backup_agent.config import Config, Secret
from backup_agent.jobs.env import utcnow
from backup_agent.offsite_config import CopyConfig
from backup_agent.retention import KINDS


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="check the configuration")
    cmds = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = cmds.add_parser("check", help="validate agent.toml; print the effective configuration "
                                          "(secrets masked) and each schedule's next run")
    add_json(check)
    check.set_defaults(func=run)


def _secret(s: Secret | None) -> str | None:
    if s is None:
        return None
    return f"env {s.env} (masked)" if s.env else f"file {s.file} (masked)"


def effective(cfg: Config) -> dict[str, Any]:
    from backup_agent.daemon.triggers import next_run

    svc, now = cfg.service, utcnow()
    retention = svc.retention
    deployments = []
    for dep in cfg.deployments:
        policies = {}
        for kind in KINDS:
            policy, source = retention.resolve(dep.name, kind)
            policies[kind] = ({"rules": policy.to_dict(), "from": source} if policy else
                              {"rules": None, "from": "none" if retention.configured else
                               "no [retention] configured: nothing is pruned"})
        schedules = {}
        for s in svc.schedules.get(dep.name, ()):
            off = s.off or (s.job == "retention" and not cfg.prunes)
            nxt = None if off else next_run(s, now)
            schedules[s.job] = {"schedule": s.expr, "from": s.source,
                                "next_run": iso(nxt) if nxt else None}
        deployments.append({
            "name": dep.name, "url": dep.url, "username": dep.username, "auth": dep.auth_kind,
            "password": _secret(dep.password), "private_key": _secret(dep.private_key),
            "passphrase": _secret(dep.passphrase), "verify_tls": dep.verify_tls,
            "timeout": dep.timeout, "retries": dep.retries, "max_concurrency": dep.max_concurrency,
            "nodes": [{"name": n.name, "role": n.role, "provider": n.provider, "vm": n.vm}
                      for n in dep.nodes],
            "schedule": schedules, "retention": policies,
        })
    return {
        "config": str(cfg.path) if cfg.path else None,
        "storage": {"path": str(cfg.storage_path)},
        "daemon": {"listen": svc.daemon.listen, "grace_seconds": svc.daemon.grace_seconds,
                   "auth": svc.daemon.web.auth, "tls": svc.daemon.web.tls,
                   "tokens": [{"name": t.name, "role": t.role} for t in svc.daemon.web.tokens]},
        "alerts": {"urls": [u.split("://", 1)[0] + "://(masked)" for u in svc.alerts.urls],
                   "stale_after": str(svc.alerts.stale_after) if svc.alerts.stale_after else None,
                   "timeout": svc.alerts.timeout, "retries": svc.alerts.retries},
        "retention_configured": retention.configured,
        "copies": [{"name": c.name, "type": c.type, "bucket": c.bucket, "prefix": c.prefix,
                    "object_lock": ({"mode": c.lock_mode, "days": c.lock_days}
                                    if c.lock_mode else None),
                    "retention": _copy_retention(c)} for c in cfg.copies],
        "encryption": ({"recipients": len(cfg.encryption.recipients),
                        "identity_file": cfg.encryption.identity_file} if cfg.encryption else None),
        "warnings": cfg.warnings,
        "providers": {name: {"type": p.type, **p.settings,
                             **{k: _secret(s) for k, s in p.secrets.items()}}
                      for name, p in cfg.providers.items()},
        "deployments": deployments,
    }


def _copy_retention(c: CopyConfig) -> dict[str, Any]:
    table = c.retention
    if table is None:
        return {"from": "retention (inherited)", "remove_last_copy": c.remove_last_copy}
    return {"rules": table.rules.to_dict() if table.rules else None,
            "kinds": {k: p.to_dict() for k, p in table.kinds.items()},
            "remove_last_copy": c.remove_last_copy}


def run(args: argparse.Namespace, ctx: Context) -> int:
    from backup_agent.daemon.alerts import check_urls

    check_urls(ctx.config.service.alerts.urls)
    data = effective(ctx.config)
    ctx.emit(data, lambda: _text(data))
    return 0


def _text(d: dict[str, Any]) -> str:
    lines = [f"configuration {d['config']}: valid", f"storage.path {d['storage']['path']}",
             f"daemon.listen {d['daemon']['listen']}, grace {d['daemon']['grace_seconds']:g} s",
             "daemon.tokens: " + (", ".join(f"{t['name']} ({t['role']})" for t in d["daemon"]["tokens"])
                                  or ("none (auth = \"none\")" if d["daemon"]["auth"] == "none"
                                      else "none: the API and the console refuse every request"))]
    urls = d["alerts"]["urls"]
    lines.append(f"alerts: {', '.join(urls)}" if urls else "alerts: none configured")
    lines += [f"WARNING: {w}" for w in d["warnings"]]
    for c in d["copies"]:
        lock = c["object_lock"]
        lines.append(f"copy {c['name']}: {c['type']} {c['bucket']}/{c['prefix']}"
                     + (f", object lock {lock['mode']} {lock['days']} d" if lock else ""))
    if not d["retention_configured"]:
        lines.append("retention: no [retention] configured: nothing is pruned")
    for dep in d["deployments"]:
        lines.append(f"deployment {dep['name']}: {dep['url']} ({dep['auth']}, user {dep['username']}, "
                     f"password {dep['password'] or '-'}, passphrase {dep['passphrase'] or '-'})")
        for job, s in dep["schedule"].items():
            nxt = s["next_run"] or "never (off)"
            lines.append(f"  {job:9} {s['schedule']:14} next {nxt}  [{s['from']}]")
        if d["retention_configured"]:
            for kind, p in dep["retention"].items():
                none = "only expiry" if kind == "snapshot" else "no rule: all kept"
                rules = ", ".join(f"{k}={v}" for k, v in (p["rules"] or {}).items()) or none
                lines.append(f"  retention {kind:14} {rules}  [{p['from']}]")
    return "\n".join(lines)
