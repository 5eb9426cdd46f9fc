"""HTTPS with a self-signed certificate: verified with its CA file, refused without."""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.sim.conftest import CONF, make_sim


def test_https_with_the_ca_file_and_refused_without() -> None:
    sim = make_sim(rooms=4, tls=True)
    try:
        assert sim.url.startswith("https://127.0.0.1:") and sim.ca_file is not None
        ca = str(sim.ca_file)
        with requests.Session() as s:
            # per request: a session-level verify loses to $REQUESTS_CA_BUNDLE in requests
            s.auth = ("admin", "sim-admin")
            assert s.get(sim.url + CONF + "conference/", verify=ca, timeout=10).json()["meta"]["total_count"] == 4
            s.post(sim.url + "/api/admin/command/v1/platform/backup_create/", json={"passphrase": "p"},
                   verify=ca, timeout=30)
            entry = s.get(sim.url + CONF + "system_backup/", verify=ca, timeout=10).json()["objects"][0]
            body = s.get(sim.url + entry["resource_uri"], verify=ca, timeout=10).content  # no sendfile on TLS
            assert hashlib.sha256(body).hexdigest() == entry["sha256sum"]
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(sim.url + CONF + "conference/", auth=("admin", "sim-admin"), timeout=10)
        # a plain-HTTP client against the TLS port does not get through either
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(sim.url.replace("https", "http") + CONF, timeout=5)
    finally:
        sim.stop()
