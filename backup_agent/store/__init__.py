"""Where artifact bytes live. ``LocalStore`` is the default; off-site stores share its shape."""

from backup_agent.store.local import AtomicFile, LocalStore, sha256_file

__all__ = ["AtomicFile", "LocalStore", "sha256_file"]
