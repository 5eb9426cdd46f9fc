"""Client of the Pexip Infinity Management Node API (``requests``).

- :class:`InfinityClient` — one per deployment, thread-safe: listings, resources, config backups.
- Retries with backoff and jitter on connection errors, 5xx and 429 (``Retry-After`` honoured),
  at most ``retries`` times; at most ``max_concurrency`` requests in flight (default 5).
- Every failure is a ``backup_agent.errors`` error with one actionable line and no secret.
"""

from backup_agent.infinity.backups import BackupHandle, BackupInfo, check_filename
from backup_agent.infinity.client import InfinityClient
from backup_agent.infinity.streams import FileSink, Package, RestartableSink

__all__ = ["BackupHandle", "BackupInfo", "FileSink", "InfinityClient", "Package", "RestartableSink",
           "check_filename"]
