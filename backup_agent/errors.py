"""The one error root of the agent, and the exit codes it maps to.

Every error a user can cause or meet is an :class:`AgentError` subclass carrying its exit
code. ``backup_agent.cli.main.main`` is the only place that turns them into a message and an
exit status; everything else raises. SDK and library errors are wrapped at the boundary with
``raise ... from``.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # usage or configuration error
EXIT_PARTIAL = 3  # a run ended partially_failed
EXIT_NOT_READY = 4  # a checkpoint or restore prerequisite is not met
# `status` as a health check (backup_agent/service/status.py): 0 is healthy.
EXIT_DEGRADED = 10  # a deployment answers but cannot be protected as it should be
EXIT_DOWN = 11  # a Management Node does not answer, or was never reached
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Hint:
    """What would fix an error, said for each front end: the CLI shows ``flag``, a daemon
    ``config_key``. The error's own message says what is wrong in words, naming neither."""

    flag: str | None = None  # e.g. "--down-since TIME"
    config_key: str | None = None  # e.g. "deployments.prod.passphrase_file"


class AgentError(Exception):
    """Base of every error the agent reports to a user (one actionable line)."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str = "", *, hint: Hint | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def for_cli(self) -> str:
        """The message with its hint as a command-line flag."""
        return _with(str(self), self.hint.flag if self.hint else None, "pass")

    def for_daemon(self) -> str:
        """The message with its hint as a configuration key."""
        return _with(str(self), self.hint.config_key if self.hint else None, "set")


def _with(message: str, fix: str | None, verb: str) -> str:
    return f"{message}: {verb} {fix}" if fix else message


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by the handler the entry point installs (borg's way).

    A KeyboardInterrupt so that every frame that ends a run or a restore ``interrupted`` on
    Ctrl-C does the same on SIGTERM, without a second ``except`` clause to forget.
    """


class UsageError(AgentError):
    """The command line is wrong."""

    exit_code = EXIT_USAGE


class ConfigError(AgentError):
    """agent.toml is missing, malformed, or names something that does not exist."""

    exit_code = EXIT_USAGE


class SecretError(ConfigError):
    """A secret (password, passphrase, key) cannot be read. Never carries the secret."""


class ApiError(AgentError):
    """The Management Node API failed or answered something unusable."""


class AuthError(ApiError):
    """The Management Node refused the credentials (401/403)."""


class ConnectError(ApiError):
    """The Management Node cannot be reached (DNS, refused, TLS, timeout)."""


class IntegrityError(AgentError):
    """Bytes do not match the size or sha256 they must have."""


class StoreError(AgentError):
    """The artifact store cannot write, read or find something."""


class StoreUnavailable(StoreError):
    """A whole store cannot be used now (no such bucket, access denied, unreachable): a job
    stops trying it for this run instead of failing every object the same way. ``transient``:
    it may answer again soon (unreachable), unlike a missing bucket or refused credentials."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ObjectLocked(StoreError):
    """A delete refused while the object's retention (S3 Object Lock, an immutability policy)
    lasts: the object is kept, not lost; retention reports it and goes on."""


class CatalogError(AgentError):
    """The catalog database cannot be read or written."""


class ProviderError(AgentError):
    """A snapshot provider failed; wraps ``providers.base.ProviderError``."""


class EvidenceError(AgentError):
    """Planner evidence is malformed (a missing key, an unknown value, a bad timestamp)."""

    exit_code = EXIT_USAGE


class NotReadyError(AgentError):
    """A prerequisite of a checkpoint or a restore is not met."""

    exit_code = EXIT_NOT_READY
