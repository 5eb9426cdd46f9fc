"""A checkpoint end to end with real provider peers bound to the nodes: the Management Node on
EC2 (moto_server, through ``endpoint_url``) and a Conferencing Node opted in on vSphere (vcsim),
the deployment itself on the simulator; released through both after the upgrade."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_agent.sim import Simulator
from providers.base import MANAGED_TAG
from providers.vmware import VMwareProvider
from tests.jobs.conftest import Runner, write_config
from tests.jobs.test_checkpoint import control, workers
from tests.providers.aws_peers import REGION, Peer, aws_env, moto_server, reset
from tests.providers.test_vmware import PASSWORD as VC_PASSWORD
from tests.providers.test_vmware import USER as VC_USER
from tests.providers.test_vmware import _start_vcsim, _stop

__all__ = ["aws_env", "moto_server"]  # fixtures used here
pytestmark = pytest.mark.peer("vcsim")
VM = "DC0_H0_VM0"


@pytest.fixture(scope="module")
def vcsim() -> Iterator[int]:
    """A vcsim of this module's own: the vSphere tests' VMs stay as they expect them."""
    proc, port = _start_vcsim()
    yield port
    _stop(proc)


def test_checkpoint_with_aws_and_vmware(agent: Runner, sim: Simulator, tmp_path: Path,
                                        moto_server: str, vcsim: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    reset(moto_server)
    ec2 = Peer("server", {"endpoint_url": moto_server})
    instance = ec2.make_instance()
    monkeypatch.setenv("T_AWS_KEY", "testing")
    monkeypatch.setenv("T_VC_PASSWORD", VC_PASSWORD)
    cn = workers(sim)[0]["name"]
    cfg = write_config(tmp_path, sim.url)
    cfg.write_text(cfg.read_text() + f"""
[[deployments.nodes]]
name = "mgr01"
role = "management"
provider = "ec2"
vm = "{instance}"

[[deployments.nodes]]
name = "{cn}"
role = "conferencing"
provider = "vc"
vm = "{VM}"
checkpoint_snapshot = true

[providers.ec2]
type = "aws"
region = "{REGION}"
endpoint_url = "{moto_server}"
access_key_id_env = "T_AWS_KEY"
secret_access_key_env = "T_AWS_KEY"

[providers.vc]
type = "vmware"
host = "127.0.0.1"
port = {vcsim}
username = "{VC_USER}"
password_env = "T_VC_PASSWORD"
verify_tls = false
""")
    code, out, err = agent("--config", str(cfg), "checkpoint", "create", "--target-version",
                           "39.1", "--json")
    assert code == 0, err
    c = json.loads(out)
    assert c["ready"] is True
    snaps = {p["node"]: p for p in c["parts"] if p["kind"] == "snapshot"}
    assert set(snaps) == {"mgr01", cn} and all(p["verified"] for p in snaps.values())
    assert len(ec2.client().describe_snapshots(OwnerIds=["self"])["Snapshots"]) == 2
    with VMwareProvider({"host": "127.0.0.1", "port": vcsim, "username": VC_USER,
                         "password": VC_PASSWORD, "verify_tls": False}) as vc:
        assert len(vc.list(VM, tags={MANAGED_TAG: "true"})) == 1
        control(sim, "version", {"version": "39.1", "build": "82000.0.0"})
        code, out, err = agent("--config", str(cfg), "checkpoint", "release", c["id"], "--json")
        assert code == 0, err
        assert {s["node"] for s in json.loads(out)["deleted"]} == {"mgr01", cn}
        assert vc.list(VM, tags={MANAGED_TAG: "true"}) == []
    assert ec2.client().describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
