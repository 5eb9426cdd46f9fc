"""The planner's runbook (its Markdown, ``planner.runbook.to_markdown``) as safe HTML.

Only the few forms the runbook uses: headings, bullet and numbered lists, fenced code blocks,
paragraphs, ``**bold**`` and ```code```. Every piece of text is escaped *first* — node, room
and deployment names in it come from the Management Node — and markup is only ever built
around escaped text, so a name holding ``<script>`` or ``**`` shows as those characters (at
worst as bold or code), never as an element of the page.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_NUMBERED = re.compile(r"(\d+)\. (.*)")


def inline(text: str) -> Markup:
    """One line's text: escaped, then ```code``` and ``**bold**`` made elements."""
    parts = str(escape(text)).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick stays a backtick
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    out = []
    for i, part in enumerate(parts):
        out.append(f"<code>{part}</code>" if i % 2 else _BOLD.sub(r"<strong>\1</strong>", part))
    return Markup("".join(out))  # noqa: S704 - built from escaped text only  # nosec B704


def to_html(markdown: str) -> Markup:
    """The runbook as HTML: ``#`` becomes ``<h3>`` (it sits in the page's "Plan" section)."""
    html: list[str] = []
    open_list: str | None = None
    code: list[str] | None = None

    def close_list() -> None:
        nonlocal open_list
        if open_list:
            html.append(f"</{open_list}>")
            open_list = None

    for line in markdown.splitlines():
        if code is not None:
            if line.strip() == "```":
                html.append(f"<pre><code>{escape(chr(10).join(code))}</code></pre>")
                code = None
            else:
                code.append(line)
            continue
        if line.strip() == "```":
            close_list()
            code = []
            continue
        heading = len(line) - len(line.lstrip("#"))
        numbered = _NUMBERED.fullmatch(line)
        if 1 <= heading <= 4 and line[heading:heading + 1] == " ":
            close_list()
            level = heading + 2  # under the page's <h1> and its section's <h2>
            html.append(f"<h{level}>{inline(line[heading + 1:])}</h{level}>")
        elif line.startswith("- ") or numbered:
            kind = "ol" if numbered else "ul"
            if open_list != kind:
                close_list()
                html.append(f"<{kind}>")
                open_list = kind
            html.append(f"<li>{inline(numbered.group(2) if numbered else line[2:])}</li>")
        elif not line.strip():
            close_list()
        else:
            close_list()
            html.append(f"<p>{inline(line)}</p>")
    close_list()
    if code is not None:  # an unclosed fence: its lines as code all the same
        html.append(f"<pre><code>{escape(chr(10).join(code))}</code></pre>")
    return Markup("\n".join(html))  # noqa: S704 - every text above went through escape()  # nosec B704
