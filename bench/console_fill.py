"""A catalog at partner scale for the console bench: N deployments x M restore points each.

Rows go straight into the catalog's tables with executemany (the setup, not measured), the way
bench_catalog.py fills its catalog: per deployment a third each config backups, snapshots
(the Management Node's and ten Conferencing Nodes') and room exports, an inventory file in the
store, a few checkpoints, and a daemon's history of runs (a watch every 5 minutes, a backup and
an export a day, their items). Five deployments have lost their Management Node: the watch's
last record is a failure, so their cards show the autonomy clock.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

CNS = 10
DOWN = 5  # deployments whose Management Node the watch found down
JOBS = ("backup", "export", "retention", "verify", "watch", "audit")  # all off: a quiet daemon
PASSWORD = "bench-admin-pw"  # the simulator's lab credential, not a secret


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def config(tmp: Path, deployments: int, listen: str = "127.0.0.1:0", extra: str = "") -> Path:
    """agent.toml: ``deployments`` deployments (never contacted by the bench: the page is made
    from the catalog alone) and the daemon's listen address."""
    (tmp / "pw").write_text(PASSWORD)
    lines = [f'[storage]\npath = "{tmp / "var"}"\n', f'[daemon]\nlisten = "{listen}"\n', extra]
    for d in range(deployments):
        lines += ["[[deployments]]", f'name = "dep{d:02d}"', 'url = "https://127.0.0.1:9"',
                  f'password_file = "{tmp / "pw"}"', f'passphrase_file = "{tmp / "pw"}"',
                  "[[deployments.nodes]]", 'name = "mgr"', 'role = "management"',
                  "[deployments.schedule]", *(f'{job} = "off"' for job in JOBS), ""]
    cfg = tmp / "agent.toml"
    cfg.write_text("\n".join(lines))
    return cfg


def inventory(name: str) -> bytes:
    nodes = [{"name": f"{name}-cn{i:02d}", "system_location": f"loc{i % 3}", "version": "38.1"}
             for i in range(CNS)]
    return json.dumps({"management_node": {"name": "mgr", "version": "38.1"},
                       "conferencing_nodes": nodes, "locations": ["loc0", "loc1", "loc2"],
                       "software_version": "38.1", "licences": []}).encode()


def fill(storage: Path, deployments: int, points: int, now: datetime | None = None) -> None:
    """Fill ``storage``'s catalog.db (made by the agent, so its schema and indexes are this
    checkout's) and write each deployment's inventory file into the store."""
    now = now or datetime.now(UTC)
    con = sqlite3.connect(storage / "catalog.db")
    for d in range(deployments):
        name = f"dep{d:02d}"
        rps, files, runs, items = [], [], [], []
        for i in range(points):
            rid, taken = f"rp-{name}-{i:06d}", stamp(now - timedelta(hours=i + 1))
            kind = ("config-backup", "snapshot", "room-export")[i % 3]
            node = ("mgr" if i % 2 else f"{name}-cn{i % CNS:02d}") if kind == "snapshot" else None
            data = ({"provider_id": f"vm-{i}", "reason": "scheduled",
                     "expires": stamp(now + timedelta(days=7) - timedelta(hours=i))}
                    if kind == "snapshot" else {"rooms": 1234})
            rps.append((rid, kind, name, taken, "38.1", None, node, "hv" if node else None, 1,
                        None, json.dumps(data)))
            names = {"config-backup": ["backup.tar.enc"], "snapshot": [],
                     "room-export": ["rooms.json", "vmrs.csv", "auditoriums.csv"]}[kind]
            files += [(rid, n, f"{name}/{kind}/{rid}/{n}", "0" * 64, 1000 + i) for n in names]
        key = f"{name}/inventory/inv-{name}/inventory.json"
        body = inventory(name)
        (storage / "store" / key).parent.mkdir(parents=True, exist_ok=True)
        (storage / "store" / key).write_bytes(body)
        rps.append((f"inv-{name}", "inventory", name, stamp(now - timedelta(minutes=30)), "38.1",
                    None, None, None, 1, None, json.dumps({"nodes": CNS})))
        files.append((f"inv-{name}", "inventory.json", key, "0" * 64, len(body)))
        for c in range(3):
            rps.append((f"ckpt-{name}-{c}", "checkpoint", name, stamp(now - timedelta(days=c + 1)),
                        "38.1", None, None, None, 1, None,
                        json.dumps({"ready": True, "parts": [], "target_version": "39"})))
        _history(name, now, runs, items, down=d < DOWN)
        con.executemany("INSERT INTO restore_points (id, kind, deployment, taken_at, version, "
                        "build, node, provider, verified, run_id, data) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rps)
        con.executemany("INSERT INTO files VALUES (?,?,?,?,?)", files)
        con.executemany("INSERT INTO runs (id, deployment, job, started_at, finished_at, outcome, "
                        "summary) VALUES (?,?,?,?,?,?,?)", runs)
        con.executemany("INSERT INTO run_items VALUES (?,?,?,?)", items)
        contact = stamp(now - timedelta(hours=30 if d < DOWN else 0, minutes=2))
        error = stamp(now - timedelta(minutes=1)) if d < DOWN else None
        con.execute("INSERT INTO contacts VALUES (?,?,?,?)", (name, contact,
                    "connection refused" if error else None, error))
    con.commit()
    con.close()


def _history(name: str, now: datetime, runs: list[tuple[object, ...]],
             items: list[tuple[object, ...]], down: bool, days: int = 7) -> None:
    """A week of a daemon's runs: a watch every 5 minutes, a backup and an export a day."""
    for i in range(days * 288):
        t = now - timedelta(minutes=5 * i)
        ok = not (down and i < 360)
        rid = f"run-watch-{name}-{i}"
        runs.append((rid, name, "watch", stamp(t), stamp(t + timedelta(seconds=1)),
                     "completed" if ok else "failed", "{}"))
        items.append((rid, "probe", "ok" if ok else "failed", None if ok else "connection refused"))
    for i in range(days):
        for job in ("backup", "export"):
            rid = f"run-{job}-{name}-{i}"
            t = now - timedelta(days=i, hours=2)
            runs.append((rid, name, job, stamp(t), stamp(t + timedelta(seconds=40)), "completed", "{}"))
            items += [(rid, job, "ok", None), (rid, "inventory", "unchanged", None)]
