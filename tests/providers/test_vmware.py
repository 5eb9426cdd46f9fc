"""The VMware provider against govmomi's vCenter simulator (tests/peers/install-vcsim.sh).

VMs of the simulator's model, split so tests do not disturb each other: DC0_H0_VM0 runs the
contract, DC0_H0_VM1 the option and lookup tests, DC0_C0_RP0_VM0/VM1 are renamed to share a
name, and a second simulator whose snapshot tasks are slow serves the timeout tests.
Snapshots are removed children first: the simulator panics removing a root that has children.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

from providers.base import (
    MANAGED_TAG,
    AmbiguousVM,
    AuthFailed,
    NotFound,
    ProviderConfigError,
    ProviderTimeout,
    TaskFailed,
    Unreachable,
    UnsupportedOption,
)
from providers.vmware import VMwareProvider, compose_description, parse_description
from tests.providers.contract import exercise_contract

ROOT = Path(__file__).resolve().parents[2]
VCSIM = ROOT / ".peers" / "bin" / "vcsim"
USER = "svc-backup@vsphere.local"
PASSWORD = "s3cret-Passw0rd"
TAGS = {MANAGED_TAG: "true", "backup-agent-node": "mgr01"}

pytestmark = pytest.mark.peer("vcsim")


def _start_vcsim(*args: str) -> tuple[subprocess.Popen[str], int]:
    """Start vcsim on a free loopback port (it picks one and prints its URL)."""
    if not VCSIM.exists():
        pytest.skip(f"vcsim not built: run tests/peers/install-vcsim.sh ({VCSIM} missing)")
    # stderr goes to a file: a pipe nobody reads would stall a chatty simulator.
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen([str(VCSIM), "-listen", "127.0.0.1:0", "-user", USER, *args],
                                stdout=subprocess.PIPE, stderr=errors, text=True,
                                env={**os.environ, "VCSIM_PASSWORD": PASSWORD})
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("https://"):
            proc.kill()
            proc.wait()
            errors.seek(0)
            raise RuntimeError(f"vcsim did not start: {line!r} {errors.read()[-2000:]}")
    return proc, int(line.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def vcsim_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the main simulator writes its self-signed certificate (its own CA)."""
    return tmp_path_factory.mktemp("vcsim") / "ca.pem"


@pytest.fixture(scope="session")
def vcsim_port(vcsim_ca: Path) -> Iterator[int]:
    proc, port = _start_vcsim("-cert-out", str(vcsim_ca))
    yield port
    _stop(proc)


@pytest.fixture(scope="session")
def slow_vcsim_port() -> Iterator[int]:
    """A simulator whose snapshot tasks run 2 s in the background, as on a real vCenter."""
    proc, port = _start_vcsim("-task-delay", "CreateSnapshot=2s")
    yield port
    _stop(proc)


@pytest.fixture(scope="session")
def stalling_vcsim_port() -> Iterator[int]:
    """A simulator that takes 1.5 s to answer the create and revert calls themselves."""
    proc, port = _start_vcsim("-method-delay", "CreateSnapshot_Task=1500ms,RevertToSnapshot_Task=1500ms")
    yield port
    _stop(proc)


def _settings(port: int, **over: Any) -> dict[str, Any]:
    return {"type": "vmware", "host": "127.0.0.1", "port": port, "username": USER,
            "password": PASSWORD, "verify_tls": False, "timeout": 30, **over}


@pytest.fixture
def provider(vcsim_port: int) -> Iterator[VMwareProvider]:
    with VMwareProvider(_settings(vcsim_port)) as p:
        yield p  # type: ignore[misc]


@pytest.fixture(scope="session")
def vc(vcsim_port: int) -> Iterator[Any]:
    """A plain pyvmomi session on the simulator, to arrange and check from outside."""
    si = SmartConnect(host="127.0.0.1", port=vcsim_port, user=USER, pwd=PASSWORD,
                      disableSslCertValidation=True)
    yield si.RetrieveContent()
    Disconnect(si)


def _vm(content: Any, name: str) -> Any:
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return next(v for v in view.view if v.name == name)
    finally:
        view.DestroyView()


def test_contract(provider: VMwareProvider) -> None:
    exercise_contract(provider, "DC0_H0_VM0", "no-such-vm")


def test_memory_quiesce_and_revert(provider: VMwareProvider, vc: Any) -> None:
    first = provider.create("DC0_H0_VM1", "ba-plain", "before upgrade", TAGS)
    second = provider.create("DC0_H0_VM1", "ba-quiesced", "", TAGS, {"memory": True, "quiesce": True})
    try:
        assert first.extra["quiesced"] is False and second.extra["quiesced"] is True
        assert second.extra["parent"] == first.id
        assert first.description == "before upgrade" and first.tags == TAGS
        vm = _vm(vc, "DC0_H0_VM1")
        assert vm.snapshot.currentSnapshot._moId == second.id
        provider.revert(first.id)
        assert vm.snapshot.currentSnapshot._moId == first.id
    finally:
        provider.delete(second.id)
        provider.delete(first.id)
    assert provider.list("DC0_H0_VM1") == []


def test_list_by_name_uuid_and_moref(provider: VMwareProvider, vc: Any) -> None:
    vm = _vm(vc, "DC0_H0_VM1")
    ref = provider.create("DC0_H0_VM1", "ba-lookup", "", TAGS)
    other = provider.create("DC0_H0_VM1", "ba-untagged", "", {"owner": "someone-else"})
    try:
        for ident in ("DC0_H0_VM1", vm._moId, vm.config.uuid, vm.config.instanceUuid.upper()):
            assert [s.id for s in provider.list(ident)] == [ref.id, other.id], ident
            assert provider.vm_exists(ident)
        assert [s.id for s in provider.list("DC0_H0_VM1", {MANAGED_TAG: "true"})] == [ref.id]
        assert ref.id in {s.id for s in provider.list(tags=TAGS)}
        assert other.id not in {s.id for s in provider.list(tags=TAGS)}
        assert ref.vm == vm._moId and ref.extra["vm_name"] == "DC0_H0_VM1"
        scoped = VMwareProvider(_settings(provider.port, datacenter="DC0"))
        assert ref.id in {s.id for s in scoped.list()}
    finally:
        provider.delete(other.id)
        provider.delete(ref.id)


def test_missing_vm_and_snapshot(provider: VMwareProvider) -> None:
    for ident in ("no-such-vm", "vm-999999", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound, match="no VM"):
            provider.list(ident)
        assert not provider.vm_exists(ident)
    for snap in ("snapshot-999999", "not-a-moref"):
        with pytest.raises(NotFound):
            provider.get(snap)
        with pytest.raises(NotFound):
            provider.revert(snap)
    for dc in ("DC9", "DC0/vm"):  # the second is a folder, not a datacenter
        with pytest.raises(NotFound, match=f"no datacenter '{dc}'"):
            VMwareProvider(_settings(provider.port, datacenter=dc)).list("DC0_H0_VM0")


def test_duplicate_vm_names_are_refused(provider: VMwareProvider, vc: Any) -> None:
    # vSphere allows one name per folder: move one VM to another folder, then rename both.
    first, second = _vm(vc, "DC0_C0_RP0_VM0"), _vm(vc, "DC0_C0_RP0_VM1")
    folder = vc.rootFolder.childEntity[0].vmFolder.CreateFolder("ba-elsewhere")
    WaitForTask(folder.MoveIntoFolder_Task([second]))
    WaitForTask(first.Rename_Task("pexip-mgr01"))
    WaitForTask(second.Rename_Task("pexip-mgr01"))
    with pytest.raises(AmbiguousVM, match=rf"2 VMs match 'pexip-mgr01' \({first._moId}, {second._moId}\); "
                                          "name the VM by its UUID or MoRef"):
        provider.create("pexip-mgr01", "ba-dup", "", TAGS)
    with pytest.raises(AmbiguousVM):
        provider.vm_exists("pexip-mgr01")
    with pytest.raises(AmbiguousVM):
        provider.list("pexip-mgr01")
    ref = provider.create(second._moId, "ba-dup", "", TAGS)
    assert ref.vm == second._moId
    assert [s.id for s in provider.list(second.config.uuid)] == [ref.id]
    provider.delete(ref.id)


def test_wrong_credentials(vcsim_port: int) -> None:
    bad = VMwareProvider(_settings(vcsim_port, password="wrong-" + PASSWORD))
    with pytest.raises(AuthFailed, match=f"login refused for user '{USER}'") as err:
        bad.list("DC0_H0_VM0")
    assert PASSWORD not in str(err.value)


def test_unreachable_endpoint() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable, match=f"127.0.0.1:{port}: cannot reach the SDK endpoint"):
        VMwareProvider(_settings(port)).list("DC0_H0_VM0")


def test_tls_verification_is_on_by_default(vcsim_port: int, vcsim_ca: Path, tmp_path: Path) -> None:
    settings = _settings(vcsim_port)
    del settings["verify_tls"]
    with pytest.raises(Unreachable, match=r"TLS certificate not trusted \(self.signed certificate\); "
                                          "put its CA in ca_bundle") as err:
        VMwareProvider(settings).list("DC0_H0_VM0")
    assert PASSWORD not in str(err.value)
    # Trusting exactly this server's certificate works; trusting another one does not.
    assert VMwareProvider({**settings, "ca_bundle": str(vcsim_ca)}).list("DC0_H0_VM0") == []
    other = tmp_path / "other.pem"
    proc, _ = _start_vcsim("-cert-out", str(other))
    _stop(proc)
    with pytest.raises(Unreachable, match="TLS certificate not trusted"):
        VMwareProvider({**settings, "ca_bundle": str(other)}).list("DC0_H0_VM0")


def test_bad_options(provider: VMwareProvider) -> None:
    with pytest.raises(UnsupportedOption, match=r"unsupported option\(s\) snapshot_type \(known: memory, quiesce\)"):
        provider.create("DC0_H0_VM0", "x", options={"snapshot_type": "app"})
    with pytest.raises(UnsupportedOption, match="memory must be true or false"):
        provider.create("DC0_H0_VM0", "x", options={"memory": "yes"})
    with pytest.raises(UnsupportedOption, match="create must wait"):
        provider.create("DC0_H0_VM0", "x", wait=False)
    assert provider.list("DC0_H0_VM0") == []


@pytest.mark.parametrize(("over", "message"), [
    ({"host": ""}, "'host' is required"),
    ({"password": None}, "'password' is required"),
    ({"verify_tls": "false"}, "verify_tls must be true or false"),
    ({"region": "eu"}, r"unknown setting\(s\) region"),
    ({"port": "443"}, "port must be a number from 1 to 65535, not '443'"),
    ({"port": 0}, "port must be a number"),
])
def test_bad_settings(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        VMwareProvider({**_settings(443), **over})


def test_missing_ca_bundle(tmp_path: Path) -> None:
    settings = _settings(443, ca_bundle=str(tmp_path / "nope.pem"))
    del settings["verify_tls"]
    with pytest.raises(ProviderConfigError, match="cannot read ca_bundle"):
        VMwareProvider(settings).list("DC0_H0_VM0")


def test_create_timeout_reports_the_task(slow_vcsim_port: int) -> None:
    with VMwareProvider(_settings(slow_vcsim_port)) as slow:
        started = time.monotonic()
        with pytest.raises(ProviderTimeout, match=r"not done after 0.2s \(task task-\d+ still running\).*"
                                                  "remove the snapshot it leaves"):
            slow.create("DC0_H0_VM0", "ba-slow", "", TAGS, timeout=0.2)
        assert time.monotonic() - started < 2.0, "gave up before the 2 s task finished"
        # The simulator finishes the task later: the snapshot the message warned of appears.
        slow.delete(_wait_for_snapshot(slow, "DC0_H0_VM0", "ba-slow").id)
        made = slow.create("DC0_H0_VM0", "ba-slow-ok", "", TAGS, timeout=10)
        slow.delete(made.id)


def test_timed_out_create_that_lands_anyway_is_removed(provider: VMwareProvider, vc: Any) -> None:
    # The race the timeout path guards: the task finishes just as the provider gives up.
    vm = _vm(vc, "DC0_H0_VM1")
    task = vm.CreateSnapshot_Task("ba-late", compose_description("", TAGS), False, False)
    WaitForTask(task)
    err = provider._abandon(task, ProviderTimeout("vmware: snapshot 'ba-late' not done after 1s"))
    assert f"finished as we gave up and snapshot {task.info.result._moId} was removed" in str(err)
    assert provider.list("DC0_H0_VM1") == []


def _wait_for_snapshot(provider: VMwareProvider, vm: str, name: str) -> Any:
    deadline = time.monotonic() + 8
    while not (found := [s for s in provider.list(vm) if s.name == name]):
        assert time.monotonic() < deadline, f"snapshot {name} never appeared"
        time.sleep(0.1)
    return found[0]


def test_unanswered_calls_time_out(stalling_vcsim_port: int) -> None:
    quick = VMwareProvider(_settings(stalling_vcsim_port, timeout=0.5))
    patient = VMwareProvider(_settings(stalling_vcsim_port))
    with pytest.raises(ProviderTimeout, match=r"no answer to snapshot 'ba-stalled' .* within 0.5s; "
                                              "the snapshot may still be made: list shows it by name"):
        quick.create("DC0_H0_VM0", "ba-stalled", "", TAGS)
    left = _wait_for_snapshot(patient, "DC0_H0_VM0", "ba-stalled")
    with pytest.raises(ProviderTimeout, match=f"no answer to revert VM vm-\\d+ to snapshot {left.id} within 0.5s"):
        quick.revert(left.id)
    patient.delete(left.id)
    quick.close()
    patient.close()


def test_failed_task_is_task_failed(provider: VMwareProvider, vc: Any) -> None:
    # A real failing task: powering on a VM that is already on.
    vm = _vm(vc, "DC0_H0_VM0")
    assert vm.runtime.powerState == "poweredOn"
    with pytest.raises(TaskFailed, match=r"power on failed \(task task-\d+\): .*InvalidPowerState"):
        provider._wait(vm.PowerOnVM_Task(), "power on", 5)


def test_description_trailer_round_trip() -> None:
    text = compose_description("before upgrade\nto v35", {"b": "2", MANAGED_TAG: "true"})
    assert text.endswith('\nbackup-agent-tags: {"b":"2","backup-agent":"true"}')
    assert parse_description(text) == ("before upgrade\nto v35", {"b": "2", MANAGED_TAG: "true"})
    assert parse_description(compose_description("", {"k": "v"})) == ("", {"k": "v"})
    assert parse_description("made by hand") == ("made by hand", {})
    assert parse_description("x\nbackup-agent-tags: {broken") == ("x\nbackup-agent-tags: {broken", {})
    assert parse_description("") == ("", {})


def test_logs_in_again_after_the_session_ends(provider: VMwareProvider, vc: Any) -> None:
    provider.list("DC0_H0_VM0")
    sessions = vc.sessionManager.sessionList
    ours = [s.key for s in sessions if s.key != vc.sessionManager.currentSession.key]
    assert ours, "the provider holds a session of its own"
    vc.sessionManager.TerminateSession(ours)
    assert provider.list("DC0_H0_VM0") == []


def test_agent_toml_settings_parallel_snapshots_and_tags(vcsim_port: int, vcsim_ca: Path, vc: Any,
                                                          tmp_path: Path) -> None:
    """agent.toml -> config -> snapshots.take on two VMs at once through one provider."""
    from tests.providers.via_agent import check_tags_round_trip, take_through_agent

    secret = tmp_path / "vsphere-password"
    secret.write_text(PASSWORD + "\n")
    table = (f'type = "vmware"\nhost = "127.0.0.1"\nport = {vcsim_port}\nusername = "{USER}"\n'
             f'password_file = "{secret}"\nca_bundle = "{vcsim_ca}"\ndatacenter = "DC0"\n'
             f'verify_tls = true\ntimeout = 30\n')
    sessions = len(vc.sessionManager.sessionList)
    result = take_through_agent(tmp_path, table, ["DC0_H0_VM0", "DC0_H0_VM1"])
    try:
        check_tags_round_trip(result)
        # the snapshot threads share one provider: one login, not one per thread
        assert len(vc.sessionManager.sessionList) == sessions + 1
    finally:
        for rp in result.points:
            result.provider.delete(rp.data["provider_id"])
        result.env.close()
    assert len(vc.sessionManager.sessionList) == sessions  # and close() logged it out


def test_an_https_server_that_is_not_vsphere_is_unreachable(tmp_path: Path) -> None:
    """A wrong host or port that answers https (a web server, a proxy's error page) is a typed
    Unreachable, not pyvmomi's bare Exception (which would abort a whole snapshot run)."""
    import http.server
    import ssl
    import threading

    from tests.peers.entra_tls import make_certificate

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>not here</html>"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    cert, key = make_certificate(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = _settings(server.server_address[1], verify_tls=True, ca_bundle=str(cert))
        with pytest.raises(Unreachable, match="not a vSphere SDK endpoint") as err:
            VMwareProvider(settings).list("DC0_H0_VM0")
        assert PASSWORD not in str(err.value)
    finally:
        server.shutdown()
        server.server_close()


def test_memory_and_quiesce_are_settable_in_agent_toml(vcsim_port: int, vcsim_ca: Path, vc: Any,
                                                       tmp_path: Path) -> None:
    """The documented options could not be set: agent.toml refused them. They are defaults."""
    from tests.providers.via_agent import take_through_agent

    secret = tmp_path / "vsphere-password"
    secret.write_text(PASSWORD + "\n")
    table = (f'type = "vmware"\nhost = "127.0.0.1"\nport = {vcsim_port}\nusername = "{USER}"\n'
             f'password_file = "{secret}"\nca_bundle = "{vcsim_ca}"\nquiesce = true\n'
             'memory = false\n')
    result = take_through_agent(tmp_path, table, ["DC0_H0_VM1"])
    try:
        [rp] = result.points
        assert result.provider.get(rp.data["provider_id"]).extra["quiesced"] is True
    finally:
        for rp in result.points:
            result.provider.delete(rp.data["provider_id"])
        result.env.close()
    with pytest.raises(ProviderConfigError, match="quiesce must be true or false"):
        VMwareProvider({**_settings(443), "quiesce": "yes"})
