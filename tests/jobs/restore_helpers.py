"""A configuration with nodes and the simulator's hypervisor, for the restore and drill tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backup_agent.sim import Simulator
from tests.jobs.conftest import PASSPHRASE, PASSWORD, Runner


def config_with_nodes(tmp_path: Path, sim: Simulator, **dep: Any) -> Path:
    """agent.toml for deployment ``prod`` on ``sim`` with its nodes bound to the sim provider."""
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "pp").write_text(PASSPHRASE)
    values = {"name": "prod", "url": sim.url, "password_file": str(tmp_path / "pw"),
              "passphrase_file": str(tmp_path / "pp"), "retries": 0, "timeout": 5, **dep}
    lines = [f'[storage]\npath = "{tmp_path / "var"}"\n', "[[deployments]]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    names = [sim.opts.management_name, *(w["name"] for w in sim.state.worker_status())]
    for i, name in enumerate(names):
        role = "management" if i == 0 else "conferencing"
        lines += ["[[deployments.nodes]]", f'name = "{name}"', f'role = "{role}"',
                  'provider = "simhv"', f'vm = "{name}"']
    lines += ["[providers.simhv]", 'type = "sim"', f'url = "{sim.url}"',
              f'password_file = "{tmp_path / "pw"}"']
    cfg = tmp_path / "agent.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def plan(agent: Runner, cfg: Path, *args: str) -> dict[str, Any]:
    """The live plan as JSON (through ``evidence`` when nothing is declared failed)."""
    if not args:
        code, out, err = agent("--config", str(cfg), "evidence")
        assert code == 0, err
        (cfg.parent / "evidence.json").write_text(out)
        args = ("--evidence", str(cfg.parent / "evidence.json"))
        cfg = Path("unused")
        code, out, err = agent("plan", "--json", *args)
    else:
        code, out, err = agent("--config", str(cfg), "plan", "--json", *args)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def path_number(plan_: dict[str, Any], kind: str) -> int:
    """The number of the first path of ``kind``."""
    return next(i for i, p in enumerate(plan_["paths"], 1) if p["kind"] == kind)
