"""Conferencing Node definitions: the MANUAL-PROVISION-ONLY deployment file, delete and find."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import pytest

from backup_agent.errors import ApiError
from backup_agent.infinity import InfinityClient
from tests.infinity.conftest import deployment


def test_deployment_file_for_a_redefined_node(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(rooms=2, conferencing_nodes=2)
    with InfinityClient(deployment(sim.url)) as client:
        name = sim.state.worker_status()[0]["name"]
        node = client.worker_vm(name)
        assert node is not None and client.worker_vm("cn-nowhere") is None
        client.delete_worker_vm(node["id"])
        assert client.worker_vm(name) is None
        body = {k: v for k, v in node.items() if k not in ("id", "resource_uri")}
        new_id, xml = client.create_deployment_file(body)
        root = ElementTree.fromstring(xml)  # noqa: S314 - the simulator's own answer
        assert root.findtext("name") == name and root.findtext("address") == node["address"]
        again = client.worker_vm(name)
        assert again is not None and again["id"] == new_id
        assert again["deployment_type"] == "MANUAL-PROVISION-ONLY"


def test_deployment_file_refused_for_a_duplicate_name(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(rooms=2, conferencing_nodes=1)
    with InfinityClient(deployment(sim.url)) as client:
        node = client.worker_vm_config()[0]
        with pytest.raises(ApiError, match="400"):
            client.create_deployment_file({k: v for k, v in node.items() if k != "id"})
