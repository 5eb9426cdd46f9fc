"""An S3-compatible store (AWS, MinIO, Ceph): multipart, streamed, optionally Object Locked.

Keys live under the copy's ``prefix``. An artifact is uploaded in parts of ``part_size``
(memory is bounded by one part) and appears only when the multipart upload completes, with
``If-None-Match: *`` so that a visible object is never replaced. With ``object_lock`` every
object carries its retention (upload time + days) from its first byte: nothing is rewritten
afterwards. A single-request object carries its sha256 in its metadata (``x-amz-meta-sha256``);
nothing else of the artifact does. boto3 is imported here only, when such a store is opened.
"""

from __future__ import annotations

import io
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from backup_agent.errors import StoreError
from backup_agent.store.base import ObjectInfo, Store, already_exists, check_key
from backup_agent.store.objects import BUFFER, SdkStream
from backup_agent.store.parted import (
    DEFAULT_PART,
    UNREACHABLE,
    ObjectLocked,
    PartedSink,
    StoreUnavailable,
)

__all__ = ["Lock", "ObjectLocked", "S3Store"]

MISSING = ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class Lock:
    """Object Lock retention set at upload: ``mode`` governance | compliance, for ``days``."""

    mode: str
    days: int


def _tls_failed(exc: Exception) -> bool:
    from botocore.exceptions import SSLError

    return isinstance(exc, SSLError)


def _connect_reason(exc: Exception) -> str:
    """What a connection failure was, in the words of the Management Node client's errors."""
    text = f"{exc} {getattr(exc, 'kwargs', {}).get('error', '')}"
    if any(s in text for s in ("Name or service not known", "nodename nor servname",
                               "Temporary failure in name resolution", "NameResolution")):
        return "host name not found"
    if "refused" in text.lower():
        return "connection refused"
    return "cannot connect or the connection was lost"


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Store(Store):
    """Objects in ``bucket`` under ``prefix``."""

    def __init__(self, bucket: str, prefix: str = "", *, region: str | None = None,
                 endpoint_url: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, lock: Lock | None = None,
                 part_size: int = DEFAULT_PART, concurrency: int = 2, name: str = "s3") -> None:
        import boto3
        from botocore.config import Config as BotoConfig
        from botocore.exceptions import BotoCoreError

        self.bucket, self.prefix, self.lock, self.part_size = bucket, prefix, lock, part_size
        self.name, self.concurrency = name, concurrency
        try:
            self.client: Any = boto3.client(
                "s3", region_name=region, endpoint_url=endpoint_url,
                aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
                config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"},
                                  connect_timeout=10, read_timeout=60))
        except (BotoCoreError, ValueError) as exc:  # a broken ~/.aws/config, a bad endpoint URL
            raise StoreError(f"{name}: cannot set up the S3 client: {exc}") from None

    # -- errors -----------------------------------------------------------------------------
    def error(self, doing: str, key: str, exc: Exception) -> StoreError:
        """One line naming the store, the bucket and what failed; never a traceback."""
        code = _code(exc)
        if code == "NoSuchBucket":
            return StoreUnavailable(f"{self.name}: bucket {self.bucket!r} does not exist")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StoreUnavailable(f"{self.name}: access denied {doing} {key} in bucket "
                                    f"{self.bucket!r} ({code}): check the credentials' permissions")
        what = code or type(exc).__name__
        verb = {"writing": "write", "reading": "read", "listing": "list", "deleting": "delete",
                "aborting": "abort the upload of", "locking": "lock"}.get(doing, doing)
        message = f"{self.name}: cannot {verb} {key} in bucket {self.bucket!r}: "
        if _tls_failed(exc):  # a certificate does not get better by asking again
            return StoreUnavailable(message + "TLS to the endpoint failed (certificate verify "
                                    "failed or not for this host)")
        why = f"HTTP {what}" if what.isdigit() else what
        if what in UNREACHABLE:
            why += f" ({_connect_reason(exc)})"
            return StoreUnavailable(message + why, transient=True)
        return StoreError(message + why)

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _lock_args(self) -> dict[str, Any]:
        if self.lock is None:
            return {}
        until = datetime.now(UTC) + timedelta(days=self.lock.days)
        return {"ObjectLockMode": self.lock.mode.upper(), "ObjectLockRetainUntilDate": until}

    # -- the contract -----------------------------------------------------------------------
    def writer(self, key: str, hashed: bool = True) -> S3Sink:
        return S3Sink(self, self._full(key), key, hashed)

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
        except ClientError as exc:
            if _code(exc) in MISSING:
                raise StoreError(f"cannot read {key} from {self.name}: no such object") from None
            raise self.error("reading", key, exc) from None
        except BotoCoreError as exc:
            raise self.error("reading", key, exc) from None
        return io.BufferedReader(SdkStream(body.read, (BotoCoreError, OSError), self, key,
                                           close=body.close), buffer_size=BUFFER)

    def stat(self, key: str) -> ObjectInfo | None:
        head = self.head(key)
        if head is None:
            return None
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"],
                          head.get("Metadata", {}).get("sha256"))

    def head(self, key: str) -> dict[str, Any] | None:
        """HeadObject's answer (lock mode and retain-until date included), None when missing."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            raise self.error("reading", key, exc) from None
        except BotoCoreError as exc:
            raise self.error("reading", key, exc) from None
        return head

    def retained_until(self, key: str) -> datetime | None:
        """The Object Lock retain-until date of the object, None when unlocked or missing."""
        until = (self.head(key) or {}).get("ObjectLockRetainUntilDate")
        return until if isinstance(until, datetime) else None

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        from botocore.exceptions import BotoCoreError, ClientError

        out = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    out.append(ObjectInfo(obj["Key"][len(self.prefix):], int(obj["Size"]),
                                          obj["LastModified"]))
        except (ClientError, BotoCoreError) as exc:
            raise self.error("listing", prefix or "/", exc) from None
        return sorted(out, key=lambda i: i.key)

    def delete(self, key: str) -> None:
        """Delete every version of the object; ObjectLocked when its retention forbids it."""
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._full(key)
        try:
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=full)
            versions = [v for page in pages for v in (*page.get("Versions", []),
                                                      *page.get("DeleteMarkers", []))
                        if v["Key"] == full]
            for v in versions:
                self.client.delete_object(Bucket=self.bucket, Key=full, VersionId=v["VersionId"])
        except ClientError as exc:
            if _code(exc) == "AccessDenied" and self.lock is not None:
                head = self.head(key) or {}
                until = head.get("ObjectLockRetainUntilDate")
                raise ObjectLocked(f"{self.name}: {key} is kept by its object lock"
                                   + (f" until {until:%Y-%m-%d}" if until else "")) from None
            raise self.error("deleting", key, exc) from None
        except BotoCoreError as exc:
            raise self.error("deleting", key, exc) from None

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"


class S3Sink(PartedSink):
    """A multipart upload, started by its first full part and completed on commit."""

    def __init__(self, store: S3Store, full: str, key: str, hashed: bool) -> None:
        super().__init__(key, hashed, store.part_size)
        self.store, self.full = store, full
        self._upload: str | None = None
        self._etags: list[dict[str, Any]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: list[Future[dict[str, Any]]] = []

    def _call(self, doing: str, fn: Any, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.store.bucket, Key=self.full, **kw)
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise already_exists(self.key) from None
            raise self.store.error(doing, self.key, exc) from None
        except BotoCoreError as exc:
            raise self.store.error(doing, self.key, exc) from None

    def _send_part(self, number: int, data: bytes) -> None:
        # Up to ``concurrency`` parts in flight (as the AWS CLI does), so memory stays bounded
        # by that many parts while the link is kept busy.
        if self._upload is None:
            self._upload = self._call("writing", self.store.client.create_multipart_upload,
                                      **self.store._lock_args())["UploadId"]
            self._pool = ThreadPoolExecutor(self.store.concurrency, thread_name_prefix="s3-part")
        while sum(not f.done() for f in self._inflight) >= self.store.concurrency:
            wait(self._inflight, return_when=FIRST_COMPLETED)
        self._collect()
        assert self._pool is not None
        self._inflight.append(self._pool.submit(self._upload_part, self._upload, number, data))

    def _upload_part(self, upload: str, number: int, data: bytes) -> dict[str, Any]:
        done = self._call("writing", self.store.client.upload_part, UploadId=upload,
                          PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": done["ETag"]}

    def _collect(self, everything: bool = False) -> None:
        """Record finished parts; a failed one raises its StoreError here."""
        if everything:
            wait(self._inflight)
        for future in [f for f in self._inflight if f.done()]:
            self._inflight.remove(future)
            self._etags.append(future.result())

    def _finish(self, sha256: str) -> ObjectInfo:
        # Metadata is fixed when the upload starts, before the digest is known, and is never
        # rewritten: a multipart object's sha256 is in its manifest, not on the object.
        self._collect(everything=True)
        self._close_pool()
        self._call("writing", self.store.client.complete_multipart_upload, UploadId=self._upload,
                   MultipartUpload={"Parts": sorted(self._etags, key=lambda p: p["PartNumber"])},
                   IfNoneMatch="*")
        self._upload = None
        self._ensure_lock()
        return self._info(sha256)

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _ensure_lock(self) -> None:
        # S3 applies the retention given to CreateMultipartUpload. A peer that drops it
        # (moto 5.2 does) would leave the artifact unlocked: then it is set once, at once.
        lock = self.store._lock_args()
        if not lock or "ObjectLockMode" in (self.store.head(self.key) or {}):
            return
        self._call("locking", self.store.client.put_object_retention, Retention={
            "Mode": lock["ObjectLockMode"], "RetainUntilDate": lock["ObjectLockRetainUntilDate"]})

    def _put_whole(self, data: bytes, sha256: str) -> ObjectInfo:
        self._call("writing", self.store.client.put_object, Body=data, IfNoneMatch="*",
                   Metadata={"sha256": sha256}, **self.store._lock_args())
        return self._info(sha256)

    def _info(self, sha256: str) -> ObjectInfo:
        return ObjectInfo(self.key, self.size, datetime.now(UTC), sha256)

    def _drop(self) -> None:
        self._close_pool()
        self._inflight = []
        if self._upload is not None:
            upload, self._upload, self._etags = self._upload, None, []
            self._call("aborting", self.store.client.abort_multipart_upload, UploadId=upload)
