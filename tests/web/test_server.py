"""The daemon serves the web app (uvicorn on its thread): the probes as before, the rest guarded."""

from __future__ import annotations

import json
from pathlib import Path

from backup_agent.sim import Simulator
from tests.daemon.conftest import Daemon
from tests.web.apikit import start


def test_probes_answer_as_before_without_a_token_and_the_rest_is_refused(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons, tokens="")
    health = web.get("/healthz", token=None)
    assert health.status == 200 and health.headers["content-type"] == "application/json"
    assert health.body == json.dumps({"ok": True, "scheduler": "running"}, sort_keys=True).encode() + b"\n"
    ready = web.get("/readyz", token=None)
    assert ready.status == 200 and ready.json() == {"ok": True, "config": "loaded", "store": "writable",
                                                     "catalog": "open"}
    metrics = web.get("/metrics", token=None)
    assert metrics.status == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "backup_agent_" in metrics.text
    # No token configured and no auth = "none": the API and the console are refused.
    refused = web.get("/api/v1/deployments", token=None)
    assert refused.status == 401 and "[[daemon.tokens]]" in refused.json()["error"]
    page = web.get("/", token=None)
    assert page.status == 303 and page.headers["location"] == "/signin?next=/"
    signin = web.get("/signin", token=None)
    assert signin.status == 200 and "<form" in signin.text and "prod" not in signin.text
    missing = web.get("/nowhere", token=None)
    assert missing.status == 404 and missing.json() == {"error": "not found"}
    assert web.daemon.stop() == 0
    assert "Traceback" not in web.daemon.stderr()
