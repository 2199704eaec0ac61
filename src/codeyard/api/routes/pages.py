"""The web app (contract §10): the sessions list at ``/``, each session's page behind its ``url``, their static
assets, and the one page-specific endpoint (``POST /web/render``: markdown to sanitised HTML).

The pages carry no data themselves, so serving them needs no authentication: the API key the user enters once is
kept in the browser's ``localStorage`` and sent as a bearer header on every request (the live stream included,
which the page reads with ``fetch``), never put in a URL. The content security policy allows only this server's
own scripts and styles: no inline script, no CDN.
"""

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, StringConstraints

from codeyard.api.deps import Caller
from codeyard.api.web_render import Handoff, render_message
from codeyard.domain.ids import normalize_session_id
from codeyard.errors import NotFoundError

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent.parent / "static"
_ASSETS = {
    "app.css": "text/css; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "index.js": "text/javascript; charset=utf-8",
    "session.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_PAGES = {name: (STATIC / name).read_text() for name in ("index.html", "session.html")}
_FILES = {name: (STATIC / name).read_bytes() for name in _ASSETS}


@router.get("/", response_class=HTMLResponse)
async def sessions_page() -> HTMLResponse:
    return HTMLResponse(_PAGES["index.html"], headers=_HEADERS)


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(session_id: str) -> HTMLResponse:
    normalized = normalize_session_id(session_id)
    if normalized is None:
        raise NotFoundError("no such session")
    # The id matches ``devin-[0-9a-f]{32}``: nothing in it needs escaping.
    return HTMLResponse(_PAGES["session.html"].replace("__SESSION_ID__", normalized), headers=_HEADERS)


@router.get("/static/{name}")
async def static_asset(name: str) -> Response:
    if name not in _ASSETS:
        raise NotFoundError("no such file")
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(_FILES[name], media_type=_ASSETS[name], headers=headers)


MessageText = Annotated[str, StringConstraints(max_length=1_000_000)]


class RenderRequest(BaseModel):
    texts: Annotated[list[MessageText], Field(max_length=200)]


class RenderedText(BaseModel):
    html: str
    handoff: Handoff | None = None


class RenderResponse(BaseModel):
    items: list[RenderedText]


@router.post("/web/render", response_model=RenderResponse)
async def render_texts(body: RenderRequest, caller: Caller) -> RenderResponse:
    """Messages as sanitised HTML for the session page (any valid key; the texts are the caller's own)."""
    rendered = await asyncio.to_thread(lambda: [render_message(text) for text in body.texts])
    return RenderResponse(items=[RenderedText(html=r.html, handoff=r.handoff) for r in rendered])
