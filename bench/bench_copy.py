"""Copy of a 1 GiB config backup to the S3 peer (moto_server): the agent vs ``aws s3 cp``.

    python3 bench/bench_copy.py [--size-mib 1024] [--awscli PATH] [--record FILE]

Prints the agent's wall time, MB/s and peak RSS (target: under 150 MB: multipart, streamed),
and ``aws s3 cp`` of the same file to the same peer in the same run. The agent runs as
``backup-agent copy`` in a process of its own (its peak RSS is its own: the VmHWM it reads at
its exit through ``bench/_peak.py``, not ``ru_maxrss``, which counts this script's); the
restore point is made beforehand with the library, outside the timing. moto_server keeps every
object in memory, so it is reset between the two uploads. The AWS CLI comes from PyPI into a
venv of its own (``python3 -m venv .peers/awscli && .peers/awscli/bin/pip install awscli``);
without it only the agent's figure is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, record  # noqa: E402

PEAK = str(Path(__file__).resolve().parent / "_peak.py")
BUCKET = "bench-copies"
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto_server did not start")


def reset_bucket(url: str) -> None:
    import boto3

    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
    boto3.client("s3", region_name="eu-north-1", endpoint_url=url, aws_access_key_id="bench",
                 aws_secret_access_key="bench").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})


def make_restore_point(storage: Path, size: int) -> Path:
    """A verified 1 GiB config backup in a fresh catalog and store; the file's path."""
    from backup_agent.catalog import FileRecord, Kind, RestorePoint, open_catalog
    from backup_agent.store import file_key, open_store

    store, catalog = open_store(storage / "store"), open_catalog(storage / "catalog.db")
    now = datetime.now(UTC)
    rp_id = catalog.new_id("cb", "bench", now)
    key = file_key("bench", "config-backup", rp_id, "pexip_backup.tar.gz")
    block = hashlib.sha256(b"bench").digest() * (MIB // 32)  # 1 MiB, not all one byte
    with store.writer(key) as sink:
        for _ in range(size // MIB):
            sink.write(block)
        info = sink.commit()
        sha = sink.sha256
    catalog.add_restore_point(RestorePoint(id=rp_id, kind=Kind.CONFIG_BACKUP, deployment="bench",
                                           taken_at=now, version="38.1", verified=True,
                                           files=[FileRecord("pexip_backup.tar.gz", key, sha,
                                                             info.size)]))
    catalog.close()
    return Path(store.location(key))


def write_config(tmp: Path, url: str) -> Path:
    cfg = tmp / "agent.toml"
    cfg.write_text(f'[storage]\npath = "{tmp / "var"}"\n\n[[deployments]]\nname = "bench"\n'
                   'url = "https://mgr.invalid"\npassword_env = "BENCH_PW"\n\n'
                   '[[storage.copies]]\nname = "bench-s3"\ntype = "s3"\n'
                   f'bucket = "{BUCKET}"\nprefix = "bench/"\nregion = "eu-north-1"\n'
                   f'endpoint_url = "{url}"\naccess_key_id_env = "AWS_ACCESS_KEY_ID"\n'
                   'secret_access_key_env = "AWS_SECRET_ACCESS_KEY"\n')
    return cfg


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (bytes, the command's own) and exit code of ``cmd`` (a Python
    command run through ``bench/_peak.py``), run as a child of its own."""
    with tempfile.NamedTemporaryFile(prefix="bench-peak-") as peak:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env={**env, "BENCH_PEAK_FILE": peak.name},
                                stdout=subprocess.DEVNULL)
        proc.wait()
        secs = time.perf_counter() - start
        kib = Path(peak.name).read_text().strip()
    return secs, int(kib or 0) * 1024, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--awscli", default=str(ROOT / ".peers" / "awscli" / "bin" / "aws"))
    ap.add_argument("--record", metavar="FILE", help="append the README row to FILE")
    args = ap.parse_args()
    print(machine_line())
    size = args.size_mib * MIB
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "eu-north-1", "BENCH_PW": "unused",
           "AWS_CONFIG_FILE": "/nonexistent/aws-config",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials"}
    moto, url = start_moto()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-copy-") as t:
            tmp = Path(t)
            path = make_restore_point(tmp / "var", size)
            cfg = write_config(tmp, url)
            reset_bucket(url)
            agent = [sys.executable, PEAK, "-m", "backup_agent", "--config", str(cfg), "copy"]
            secs, rss, code = timed(agent, env)
            if code != 0:
                raise SystemExit(f"backup-agent copy exited {code}")
            print(f"agent copy   {size / MIB:.0f} MiB in {secs:6.2f} s = {size / secs / 1e6:6.1f} MB/s,"
                  f" peak RSS {rss / MIB:5.1f} MiB (target < 150 MB)")
            what = f"copy of a {size / MIB:.0f} MiB config backup to the S3 peer (moto_server on loopback)"
            mine = (f"`backup-agent copy` (its own process, start-up included, source re-hashed "
                    f"as read) **{size / secs / 1e6:.0f} MB/s**, peak RSS **{rss / MIB:.0f} MiB**")
            if not Path(args.awscli).exists():
                print("aws s3 cp    not run: no AWS CLI at", args.awscli)
                record(args.record, what, "python3 bench/bench_copy.py", mine, "< 150 MB RSS")
                return
            reset_bucket(url)
            cli = [str(Path(args.awscli).parent / "python"), PEAK, args.awscli, "s3", "cp",
                   "--only-show-errors", "--endpoint-url", url, str(path),
                   f"s3://{BUCKET}/cli/pexip_backup.tar.gz"]
            secs2, rss2, code2 = timed(cli, env)
            if code2 != 0:
                raise SystemExit(f"aws s3 cp exited {code2}")
            print(f"aws s3 cp    {size / MIB:.0f} MiB in {secs2:6.2f} s = {size / secs2 / 1e6:6.1f} MB/s,"
                  f" peak RSS {rss2 / MIB:5.1f} MiB")
            print(f"agent / aws s3 cp throughput: {secs2 / secs:.2f}")
            record(args.record, what, "python3 bench/bench_copy.py",
                   f"{mine}; `aws s3 cp` (no hashing) {size / secs2 / 1e6:.0f} MB/s, "
                   f"{rss2 / MIB:.0f} MiB: **{secs2 / secs:.2f} of the AWS CLI** in the same run",
                   "< 150 MB RSS")
    finally:
        moto.terminate()
        moto.wait(timeout=30)


if __name__ == "__main__":
    main()
