"""The web app's server side (contract §10): the pages and their assets under a strict CSP with no inline script
and nothing from another origin, and markdown rendered and sanitised on the server."""

import re
from pathlib import Path

import pytest

from codeyard.api.web_render import render_message
from tests.conftest import ApiEnv

STATIC = Path(__file__).resolve().parents[2] / "src" / "codeyard" / "api" / "static"
_ACTIVE = re.compile(
    r"<(script|svg|iframe|img|object|embed|style|link|meta|form|input)\b"  # an element that runs or loads something
    r"|<[a-z][^>]*\s(on[a-z]+|style|src)\s*="  # an event handler, style or source attribute on any element
    r"|<a\b[^>]*href\s*=\s*[\"']?\s*(javascript|data|vbscript):",  # a link that runs code
    re.I,
)


def inert(html: str) -> bool:
    """No element of ``html`` can run script or load anything (attacks may remain as escaped, visible text)."""
    return _ACTIVE.search(html) is None


async def test_the_sessions_list_page_and_its_assets_come_from_this_server(api: ApiEnv) -> None:
    response = await api.client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe" not in csp
    html = response.text
    assert "<script>" not in html and "style=" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith(("/", "#")) and not a.startswith("//") for a in assets), assets
    for path in {a for a in assets if a.startswith("/static/")}:
        asset = await api.client.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert (await api.client.get("/static/app.js.map")).status_code == 404
    assert (await api.client.get("/static/..%2Fstatic%2Fsession.html")).status_code == 404


def test_no_asset_references_another_origin() -> None:
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path.name
        if path.suffix == ".html":
            assert "<script>" not in text and " onclick=" not in text and "style=" not in text, path.name


async def test_render_needs_a_key_and_sanitises(api: ApiEnv) -> None:
    texts = [
        "**bold** and `code`\n\n<script>window.pwned = 1</script>\n\n"
        "[x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        "```\n<b>kept as text</b>\n```",
    ]
    assert (await api.client.post("/web/render", json={"texts": texts})).status_code == 401
    response = await api.client.post("/web/render", headers=api.auth(), json={"texts": texts})
    assert response.status_code == 200, response.text
    first, second = (item["html"] for item in response.json()["items"])
    assert "<strong>bold</strong>" in first and "<code>code</code>" in first
    assert inert(first)
    assert "&lt;script&gt;" in first  # shown, inert
    assert "&lt;b&gt;kept as text&lt;/b&gt;" in second
    too_many = await api.client.post("/web/render", headers=api.auth(), json={"texts": ["x"] * 201})
    assert too_many.status_code == 422


@pytest.mark.parametrize(
    "attack",
    [
        '<a href="javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<svg onload=alert(1)>",
        "<iframe src=//evil.example>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "![x](https://evil.example/track.png)",
        "| a |\n|---|\n| <script>alert(1)</script> |",
    ],
)
def test_markdown_attacks_come_out_inert(attack: str) -> None:
    html = render_message(attack).html
    assert inert(html), (attack, html)


def test_a_handoff_prompt_is_summarised_not_shown_as_json() -> None:
    head = "a" * 40
    prompt = (
        "Finish the parser refactor\n\n"
        "## Local work handed off\n\n"
        "- Repository: https://github.com/acme/app.git (host github.com), remote `origin`\n"
        f"- Checked out: branch `feature/parser` at {head}\n"
        "- Unpushed commits: 2 (in the bundle)\n  - abcdef123456 Split the lexer\n  - 123456abcdef Add tests\n"
        "- Uncommitted changes (untracked files included): 1 file, patch 120 bytes\n  - modified: src/parser.py\n\n"
        "## Rebuilding this state\n\n1. `git fetch handoff.bundle HEAD`\n\n"
        "```codeyard-handoff\n"
        '{"version": 1, "remote_url": "https://github.com/acme/app.git", "branch": "feature/parser", '
        f'"base_sha": "{"b" * 40}", "head_sha": "{head}", "bundle": "handoff.bundle", "patch": null, '
        '"patch_inline": "diff --git a/x b/x"}\n'
        "```\n"
    )
    rendered = render_message(prompt)
    assert rendered.handoff is not None
    assert (rendered.handoff.repo, rendered.handoff.branch) == ("https://github.com/acme/app.git", "feature/parser")
    assert rendered.handoff.commits == ["abcdef123456 Split the lexer", "123456abcdef Add tests"]
    assert rendered.handoff.files == ["modified: src/parser.py"]
    assert "Finish the parser refactor" in rendered.html
    assert "patch_inline" not in rendered.html and "codeyard-handoff" not in rendered.html
    assert "Rebuilding" not in rendered.html


def test_a_fake_manifest_block_does_not_break_rendering() -> None:
    for text in ("```codeyard-handoff\nnot json\n```", "```codeyard-handoff\n[1, 2]\n```", "```codeyard-handoff\n"):
        rendered = render_message(text)
        assert (rendered.handoff is None and "<pre>" in rendered.html) or rendered.html
