"""``infinity/schema.py``: writable fields from ``<resource>/schema/``, cached per software
version, the built-in list when a node answers no schema, a stable order where allowed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from backup_agent.errors import AuthError
from backup_agent.infinity import schema
from backup_agent.infinity.schema import BUILT_IN, stable_order, writable_fields
from backup_agent.sim.schema import SPECS
from tests.infinity.peers import Handler, LocalServer


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    schema.clear_cache()
    yield
    schema.clear_cache()


def test_writable_fields_are_those_not_read_only(sim_factory: Any, make_client: Any) -> None:
    sim = sim_factory(rooms=3)
    client = make_client(sim.url)
    fields = writable_fields(client, "conference")
    assert fields == {n for n, f in SPECS["conference"].items() if not f.readonly}
    assert not {"id", "resource_uri", "creation_time", "sync_tag", "scheduled_conferences_count"} & fields
    assert {"ivr_theme", "scheduled_conferences", "pin", "aliases"} <= fields
    assert "system_location" in writable_fields(client, "automatic_participant")
    assert fields == BUILT_IN["conference"], "the built-in list reads current releases right"


def test_a_schema_is_read_once_per_software_version(sim_factory: Any, make_client: Any) -> None:
    sim = sim_factory(rooms=3)
    client = make_client(sim.url)
    writable_fields(client, "conference")
    before = sim.state.requests_served
    writable_fields(client, "conference")
    assert sim.state.requests_served - before == 1, "only the version is asked"
    sim.state.set_version("39.0")
    before = sim.state.requests_served
    writable_fields(client, "conference")
    assert sim.state.requests_served - before == 2, "another version: the schema again"


def test_no_schema_means_the_built_in_list(sim_factory: Any, make_client: Any) -> None:
    sim = sim_factory(rooms=3)
    client = make_client(sim.url)
    sim.faults.fail_next(5, status=404, path="/schema/")
    assert writable_fields(client, "conference") == BUILT_IN["conference"]
    assert stable_order(client, "conference") == {}, "no order asked of a node that may refuse it"


def test_stable_order_where_the_schema_allows(sim_factory: Any, make_client: Any) -> None:
    client = make_client(sim_factory(rooms=3).url)
    assert stable_order(client, "conference") == {"order_by": "id"}


def test_a_real_shaped_schema_without_ordering(make_client: Any) -> None:
    """An older node's schema (written from the facts in shared/infinity-api.md): fields with
    Tastypie's attributes, readonly flags, no ``ordering``, a version carrying its build."""
    fields = {
        "name": {"blank": False, "default": "", "help_text": "", "nullable": False,
                 "readonly": False, "type": "string", "unique": True},
        "pin": {"blank": True, "default": "", "help_text": "", "nullable": False,
                "readonly": False, "type": "string", "unique": False},
        "ivr_theme": {"blank": False, "default": None, "help_text": "", "nullable": True,
                      "readonly": False, "related_type": "to_one", "type": "related", "unique": False},
        "creation_time": {"blank": False, "default": "No default provided.", "help_text": "",
                          "nullable": False, "readonly": True, "type": "datetime", "unique": False},
        "sync_tag": {"blank": True, "default": "", "help_text": "", "nullable": False,
                     "readonly": True, "type": "string", "unique": False},
        "id": {"blank": True, "default": "", "help_text": "", "nullable": False, "readonly": False,
               "type": "integer", "unique": True},  # even when not flagged, never written
    }

    def route(h: Handler) -> tuple[int, dict[str, str], bytes]:
        if "management_vm" in h.path:
            body: Any = {"meta": {"total_count": 1}, "objects": [{"version": "24 (55691.0.0)"}]}
        else:
            body = {"allowed_list_http_methods": ["get", "post"], "default_limit": 20,
                    "fields": fields, "filtering": {"name": 1}}
        return 200, {}, json.dumps(body).encode()

    with LocalServer(route) as srv:
        client = make_client(srv.url)
        assert writable_fields(client, "conference") == {"name", "pin", "ivr_theme"}
        assert stable_order(client, "conference") == {}


def test_refused_credentials_are_not_a_missing_schema(make_client: Any) -> None:
    def route(h: Handler) -> tuple[int, dict[str, str], bytes]:
        return 401, {}, b'{"error": "no"}'

    with LocalServer(route) as srv, pytest.raises(AuthError):
        writable_fields(make_client(srv.url), "conference")
