"""The API's response models: what the OpenAPI document promises, and what is checked.

Documents that other commands define (status, evidence, plan, a restore's journal) are
typed at their top level and keep their other keys (``extra="allow"``): they are the same
documents as ``backup-agent status --json``, ``evidence`` and ``plan --json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    error: str


class BusyBody(BaseModel):
    error: str
    run_id: str | None


class SessionOut(BaseModel):
    name: str
    role: str
    via: str  # token (a bearer header), session (the console's cookie), none (auth = "none")
    csrf_token: str | None


class NodeSummary(BaseModel):
    name: str
    role: str


class DeploymentSummary(BaseModel):
    name: str
    url: str
    nodes: list[NodeSummary]


class FileOut(BaseModel):
    name: str
    key: str
    path: str
    sha256: str
    size: int


class RestorePointOut(Open):
    id: str
    kind: str
    deployment: str
    taken_at: str
    version: str | None
    build: str | None
    verified: bool
    files: list[FileOut]


class RunItem(BaseModel):
    item: str
    outcome: str
    reason: str | None


class RunOut(BaseModel):
    id: str
    deployment: str
    job: str
    started_at: str
    finished_at: str | None
    outcome: str | None  # None while it runs
    actor: str | None  # cli:USER, schedule, token:NAME; None for runs before it was recorded
    items: list[RunItem]
    summary: dict[str, Any]


class DeploymentStatus(Open):
    deployment: str
    health: str
    reasons: list[str]


class AlertOut(BaseModel):
    deployment: str
    key: str  # failed-backup, stale, autonomy, store... (README: alerts)
    state: str


class AllStatus(BaseModel):
    health: str  # the worst of the deployments'
    deployments: list[DeploymentStatus]
    alerts: list[AlertOut]  # the daemon's open alerts


class Accepted(BaseModel):
    run_id: str


class Evidence(Open):
    deployment: str
    now: str
    management_node: dict[str, Any]
    conferencing_nodes: list[dict[str, Any]]
    restore_points: list[dict[str, Any]]
    failed: list[str]


class PlanOut(Open):
    paths: list[dict[str, Any]]
    runbook: str  # the Markdown runbook, as `plan --markdown` writes it


class RestoreOut(Open):
    id: str
    deployment: str
    state: str
    started_at: str
    finished_at: str | None
    steps: list[dict[str, Any]]


class TriggerBody(BaseModel):
    """A trigger takes no options yet: an empty object."""

    model_config = ConfigDict(extra="forbid")
