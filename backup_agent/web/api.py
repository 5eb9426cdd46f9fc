"""The JSON API under ``/api/v1``: reads for any token, triggers for operators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from backup_agent.web.auth import Principal, api_viewer, web_state

router = APIRouter(prefix="/api/v1")
Viewer = Annotated[Principal, Depends(api_viewer)]


class DeploymentSummary(BaseModel):
    name: str
    url: str
    nodes: list[str]


@router.get("/deployments", response_model=list[DeploymentSummary])
def deployments(request: Request, principal: Viewer) -> list[dict[str, Any]]:
    """Every deployment of agent.toml."""
    return [{"name": d.name, "url": d.url, "nodes": [n.name for n in d.nodes]}
            for d in web_state(request).config.deployments]
