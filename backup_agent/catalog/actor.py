"""Who started a run, and a run row made ahead of its job: context the catalog reads.

Every run records its starter in ``runs.actor``: ``cli:USER`` for the command line,
``schedule`` for the daemon's schedules, ``token:NAME`` for a trigger through the API or a
page. The front end says it once with :func:`started_by` (the CLI for its main thread, the
daemon around each job) and every run started inside, however deep, carries it: no job
signature changes.

A trigger answers ``202`` with the run id before its job starts, so the daemon makes the run
row first (:func:`started_by` with ``reserved``); the job's first ``start_run`` of that
deployment and job on that thread takes the row over instead of making another.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class _Reserved:
    run_id: str
    deployment: str
    job: str
    taken: bool = False


_ACTOR: ContextVar[str | None] = ContextVar("backup_agent_run_actor", default=None)
_RESERVED: ContextVar[_Reserved | None] = ContextVar("backup_agent_reserved_run", default=None)


def set_actor(actor: str) -> None:
    """The starter of every run of this thread from now on (the CLI's main)."""
    _ACTOR.set(actor)


@contextmanager
def started_by(actor: str, reserved: tuple[str, str, str] | None = None) -> Iterator[None]:
    """Runs started inside are ``actor``'s; ``reserved`` = (run id, deployment, job) of a
    row made ahead, for the job to take over."""
    token = _ACTOR.set(actor)
    held = _RESERVED.set(_Reserved(*reserved) if reserved else None)
    try:
        yield
    finally:
        _RESERVED.reset(held)
        _ACTOR.reset(token)


def current_actor() -> str | None:
    return _ACTOR.get()


def take_reserved(deployment: str, job: str) -> str | None:
    """The reserved run id for this deployment and job, once; None otherwise."""
    held = _RESERVED.get()
    if held is None or held.taken or (held.deployment, held.job) != (deployment, job):
        return None
    held.taken = True
    return held.run_id


def reserved_for(deployment: str, job: str) -> str | None:
    """The reserved run id for this deployment and job not taken over yet, without taking it."""
    held = _RESERVED.get()
    if held is None or held.taken or (held.deployment, held.job) != (deployment, job):
        return None
    return held.run_id


def reserved_left() -> str | None:
    """The reserved run id when no job took it over (the job never started)."""
    held = _RESERVED.get()
    return held.run_id if held is not None and not held.taken else None
