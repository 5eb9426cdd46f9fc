"""The console's pages (the console branch fills this in); for now ``/`` needs a principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from backup_agent.web.auth import Principal, page_viewer

router = APIRouter(include_in_schema=False)


@router.get("/")
def index(principal: Annotated[Principal, Depends(page_viewer)]) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>backup-agent</title><p>backup-agent console</p>")
