"""Jinja2 templates from the package's ``templates/``, autoescaped: node names are data."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse


@cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("backup_agent.web", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """The template ``name`` with ``ctx`` (and ``request``) as an HTML response."""
    html = _environment().get_template(name).render(request=request, **ctx)
    return HTMLResponse(html, status_code=status_code)
