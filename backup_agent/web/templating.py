"""Jinja2 templates from the package's ``templates/``, autoescaped: node names are data.

No template marks node data ``|safe``; the one filter that returns markup, ``runbook``,
escapes every piece of text before it builds an element (:mod:`backup_agent.web.markdown`).
``segment`` makes a name one URL path segment (``/`` and ``?`` included, percent-encoded).
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from backup_agent.service.overview import Moment

#: Clock levels as the page says them (the colour comes from the CSS class ``level-NAME``).
LEVEL_TEXT = {"none": "not running", "warning": "running", "critical": "CRITICAL",
              "expired": "EXPIRED"}


def segment(value: object) -> str:
    return quote(str(value), safe="")


def when(m: Moment | None) -> Markup:
    """A moment as ``<time>`` with its age: a function, not a macro, because a page of 50
    cards has a thousand of them (a Jinja macro call cost 10 ms of the page).
    ``Markup.format`` escapes every argument."""
    if m is None:
        return Markup('<span class="none">never</span>')
    return Markup('<time datetime="{}">{}</time> <span class="age">({})</span>').format(
        m.iso, m.text, m.relative)


@cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    from backup_agent.web.markdown import to_html

    env = Environment(loader=PackageLoader("backup_agent.web", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["segment"] = segment
    env.filters["runbook"] = to_html
    env.globals["LEVEL_TEXT"] = LEVEL_TEXT
    env.globals["when"] = when
    return env


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """The template ``name`` with ``ctx`` (and ``request``) as an HTML response."""
    ctx.setdefault("principal", getattr(request.state, "principal", None))
    ctx.setdefault("csrf", "")
    html = _environment().get_template(name).render(request=request, **ctx)
    return HTMLResponse(html, status_code=status_code,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": CSP, "Referrer-Policy": "same-origin",
                                 "X-Content-Type-Options": "nosniff"})


# Nothing from elsewhere: the console is used where nothing outside is reachable, and a name
# that slipped through as markup still could not run a script of its own.
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
