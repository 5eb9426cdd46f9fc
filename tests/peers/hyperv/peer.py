"""The Hyper-V provider's peers: Debian's sshd and an in-process paramiko server.

Both run the fake ``powershell`` (fake_powershell.py) as the command of an SSH exec request.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.peers.hyperv import fake_powershell

HERE = Path(__file__).parent
FAKE = HERE / "fake_powershell.py"
SSHD = "/usr/sbin/sshd"
PASSWORD = "s3cret-Hyper-V-pass"  # the paramiko peer's; never to appear in a message


def new_key(path: Path | None = None) -> tuple[str, paramiko.PKey]:
    """A fresh ed25519 key: its OpenSSH private text (written to ``path`` if given) and the key."""
    raw = ed25519.Ed25519PrivateKey.generate()
    text = raw.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()
    if path is not None:
        path.write_text(text)
        path.chmod(0o600)
    return text, paramiko.Ed25519Key.from_private_key(io.StringIO(text))


def install_fake(bin_dir: Path) -> Path:
    """Put an executable named ``powershell`` running the fake into ``bin_dir``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "powershell"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -I -S {FAKE} \"$@\"\n")
    exe.chmod(0o755)
    return exe


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # the fake holds this lock while it runs, so state is never written under its feet
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_state(path: Path, vms: list[dict[str, Any]]) -> None:
    """Reset the fake Hyper-V host to these VMs and no checkpoints."""
    with _locked(path):
        path.write_text(json.dumps({"vms": vms, "snapshots": [], "faults": {}, "log": []}))


def read_state(path: Path) -> dict[str, Any]:
    """The fake host's state: VMs, checkpoints, faults and the log of scripts it ran."""
    with _locked(path):
        data: dict[str, Any] = json.loads(path.read_text())
        return data


def set_fault(path: Path, cmdlet: str, fault: dict[str, Any] | None) -> None:
    """Make ``cmdlet`` fail (``{"error": {...}}``) or hang (``{"hang": seconds}``); None clears."""
    with _locked(path):
        data = json.loads(path.read_text())
        if fault is None:
            data["faults"].pop(cmdlet, None)
        else:
            data["faults"][cmdlet] = fault
        path.write_text(json.dumps(data))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Peer:
    host: str
    port: int
    user: str
    host_key: paramiko.PKey
    state: Path
    client_key: str  # private key text authorised for ``user``


@contextmanager
def sshd(workdir: Path) -> Iterator[Peer]:
    """Debian's sshd on a loopback port, with its own host key, config and authorized_keys."""
    if not os.access(SSHD, os.X_OK):
        raise FileNotFoundError(f"{SSHD} missing: run tests/peers/install-sshd.sh")
    workdir.mkdir(parents=True, exist_ok=True)
    _, host_key = new_key(workdir / "host_ed25519")
    client_text, client_key = new_key()
    (workdir / "authorized_keys").write_text(f"{client_key.get_name()} {client_key.get_base64()}\n")
    bin_dir = workdir / "bin"
    install_fake(bin_dir)
    state = workdir / "state.json"
    write_state(state, [])
    port = free_port()
    user = os.environ.get("USER") or "root"
    if os.geteuid() == 0:
        user = "root"
    config = workdir / "sshd_config"
    config.write_text("\n".join([
        f"ListenAddress 127.0.0.1:{port}",
        f"HostKey {workdir / 'host_ed25519'}",
        f"PidFile {workdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
        "StrictModes no", "UsePAM no", "PermitRootLogin yes",
        "PasswordAuthentication yes", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        f"AllowUsers {user}", "LogLevel ERROR",
        f"SetEnv PATH={bin_dir}:/usr/bin:/bin FAKE_HYPERV_STATE={state}",
        "",
    ]))
    os.makedirs("/run/sshd", exist_ok=True)
    with open(workdir / "sshd.log", "wb") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_port(port, proc)
        yield Peer("127.0.0.1", port, user, host_key, state, client_text)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Server(paramiko.ServerInterface):
    def __init__(self, user: str, password: str, env: dict[str, str]) -> None:
        self.user, self.password, self.env = user, password, env
        self.command: bytes | None = None
        self.ready = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == self.user and password == self.password
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.command = command
        self.ready.set()
        return True


def _run(command: bytes, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """Run an exec request: the fake in this process (fast), anything else with /bin/sh."""
    argv = shlex.split(command.decode())
    if argv and argv[0] == "powershell":
        return fake_powershell.execute(argv[1:], env["FAKE_HYPERV_STATE"])
    proc = subprocess.run(["/bin/sh", "-c", command.decode()], capture_output=True, env=env, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


def _serve(sock: socket.socket, host_key: paramiko.PKey, user: str, password: str,
           env: dict[str, str]) -> None:
    transport = paramiko.Transport(sock)
    transport.add_server_key(host_key)
    server = _Server(user, password, env)
    try:
        transport.start_server(server=server)
        while transport.is_active():
            chan = transport.accept(1.0)
            if chan is None:
                continue
            if not server.ready.wait(5):
                chan.close()
                continue
            server.ready.clear()
            code, out, err = _run(server.command or b"", env)
            chan.sendall(out)
            chan.sendall_stderr(err)
            chan.send_exit_status(code)
            chan.shutdown_write()
            chan.close()
    except (paramiko.SSHException, EOFError, OSError):
        pass
    finally:
        transport.close()


@contextmanager
def paramiko_server(workdir: Path, user: str = "hyperv-admin", password: str = PASSWORD) -> Iterator[Peer]:
    """paramiko's own SSH server in a thread: password auth, runs the fake for exec requests."""
    workdir.mkdir(parents=True, exist_ok=True)
    _, host_key = new_key()
    bin_dir = workdir / "bin"
    install_fake(bin_dir)
    state = workdir / "state.json"
    write_state(state, [])
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_HYPERV_STATE": str(state)}
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=_serve, args=(sock, host_key, user, password, env), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield Peer("127.0.0.1", listener.getsockname()[1], user, host_key, state, "")
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        shutil.rmtree(workdir / "bin", ignore_errors=True)
