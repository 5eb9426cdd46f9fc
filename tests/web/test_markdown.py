"""The runbook's Markdown as HTML: structure kept, every text escaped first."""

from __future__ import annotations

from backup_agent.web.markdown import inline, to_html


def test_the_runbook_forms_become_elements() -> None:
    html = to_html("**Deadline soon.**\n\n# Restore plan for prod: P2\n\n- a note\n\n## Do this\n\n"
                   "### Path 1: restore-backup → mgr (ready, ~90 min)\n\n- Restore point: `cb-1`\n\n"
                   "1. **Confirm** (manual): run `backup-agent status`\n2. **Restore** (automated): x\n\n"
                   "```\nFAILED_1='--failed a --failed b'\n```\n")
    assert "<p><strong>Deadline soon.</strong></p>" in html
    assert "<h3>Restore plan for prod: P2</h3>" in html and "<h4>Do this</h4>" in html
    assert "<h5>Path 1: restore-backup → mgr (ready, ~90 min)</h5>" in html
    assert "<ul>\n<li>Restore point: <code>cb-1</code></li>\n</ul>" in html
    assert "<ol>\n<li><strong>Confirm</strong> (manual): run <code>backup-agent status</code></li>" in html
    assert "<pre><code>FAILED_1=&#39;--failed a --failed b&#39;</code></pre>" in html


def test_markup_in_names_is_text() -> None:
    html = to_html("### Path 2: redeploy-node → <script>alert(1)</script> (ready)\n"
                   "- Loses: `<img src=x onerror=alert(2)>` and **<b>bold</b>**\n"
                   "```\n<script>in code</script>\n```\n<iframe>")
    assert "<script" not in html and "<img" not in html and "<iframe" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<code>&lt;img src=x onerror=alert(2)&gt;</code>" in html
    assert "<strong>&lt;b&gt;bold&lt;/b&gt;</strong>" in html


def test_an_unpaired_backtick_or_fence_stays_text() -> None:
    assert inline("a ` b") == "a ` b"
    assert to_html("```\nx <y>") == "<pre><code>x &lt;y&gt;</code></pre>"
