"""Command answers as real nodes wrap them: ``{"status": "success", "data": ...}`` (issue 8,
defect 8). The request id of a background backup is in ``data``: read there, the agent follows
its own request instead of re-listing every backup request on each poll."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backup_agent.infinity import InfinityClient
from backup_agent.infinity.backups import BACKUP_REQUESTS, command_data
from tests.infinity.conftest import PASSPHRASE, deployment

LISTING = "/api/admin/" + BACKUP_REQUESTS


def test_a_background_backup_follows_the_request_named_in_data(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(rooms=5, backup_request_seconds=0.3)
    with InfinityClient(deployment(sim.url)) as client:
        handle = client.create_backup(PASSPHRASE, background=True, poll_interval=0.02)
        [req] = sim.backups.request_rows()
        assert handle.state == "done" and handle.request_uri == req["resource_uri"]
        # one listing, taken before the POST (which requests existed); then only its own item
        assert sim.state.requests_by_path[LISTING] == 1
        assert sim.state.requests_by_path[req["resource_uri"]] >= 2
        assert client.find_new_backup(handle, poll_interval=0.02).filename == req["filename"]


def test_command_data_reads_wrapped_and_bare_answers() -> None:
    assert command_data({"status": "success", "data": {"request_id": 3}}) == {"request_id": 3}
    assert command_data({"status": "success", "message": "ok"}) == {"status": "success", "message": "ok"}
    assert command_data(None) is None
