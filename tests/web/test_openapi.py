"""The OpenAPI document: readable with any valid token, and true to the running API, as
schemathesis (generating requests from it) finds: no server error, no response that breaks
the schema, no status or content type it does not list."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from backup_agent.sim import Simulator
from tests.daemon.conftest import Daemon
from tests.web.apikit import OPERATOR, VIEWER, assert_no_leak, start

PATHS = {"/api/v1/session", "/api/v1/deployments", "/api/v1/status", "/api/v1/deployments/{name}/status",
         "/api/v1/deployments/{name}/restore-points", "/api/v1/deployments/{name}/runs",
         "/api/v1/deployments/{name}/plan", "/api/v1/deployments/{name}/evidence",
         "/api/v1/deployments/{name}/restore-journal", "/api/v1/runs/{run_id}",
         "/api/v1/deployments/{name}/backup", "/api/v1/deployments/{name}/export",
         "/api/v1/deployments/{name}/checkpoint"}
EXAMPLES = 15  # per operation, each sent as generated and again for the real deployment
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance")


def test_the_document_needs_a_token_and_describes_every_path(sim: Simulator, tmp_path: Path,
                                                             daemons: list[Daemon]) -> None:
    web = start(tmp_path, sim.url, daemons)
    refused = web.get("/api/v1/openapi.json", token=None)
    assert refused.status == 401 and set(refused.json()) == {"error"}
    assert web.get("/api/v1/openapi.json", token="wrong-T0ken-xxxxxxxxxxxx").status == 401
    doc = web.get("/api/v1/openapi.json", token=VIEWER).json()
    assert doc == web.get("/api/v1/openapi.json", token=OPERATOR).json()
    assert set(doc["paths"]) == PATHS, "the console's pages, sign-in and probes are not API"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code in ("401", "422"):
                assert op["responses"][code]["content"]["application/json"]["schema"] == error, (path, code)
            if method == "post":
                assert {"202", "403", "409"} <= set(op["responses"]), path
    assert_no_leak(str(doc))


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error_and_no_response_breaking_the_schema(
        sim: Simulator, tmp_path: Path, daemons: list[Daemon]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import checks as st_checks

    web = start(tmp_path, sim.url, daemons, schedule={"watch": "@every 2s"})
    base = f"http://127.0.0.1:{web.port}"
    auth = {"Authorization": f"Bearer {OPERATOR}"}
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", headers=auth)
    st_checks.load_all_checks()
    chosen = [st_checks.CHECKS.get_one(name) for name in CHECKS]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == PATHS
    sent: list[int] = []

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            for real in (False, True):
                if real and "name" in (case.path_parameters or {}):
                    case.path_parameters = {**case.path_parameters, "name": "prod"}
                response = case.call(base_url=base, headers=auth, timeout=30)
                case.validate_response(response, checks=chosen, headers=auth)
                sent.append(response.status_code)
                assert_no_leak(response.text)

        check()
    assert len(sent) >= len(PATHS) * EXAMPLES, "every operation was exercised"
    assert {200, 202, 404, 422} <= set(sent), sorted(set(sent))
    time.sleep(0.5)
    assert web.daemon.stop() == 0
    assert_no_leak(web.daemon.stderr())
