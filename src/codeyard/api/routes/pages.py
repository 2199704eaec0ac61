"""The session page behind each session's ``url``: HTML that reads the API with a key kept in the browser.

The page carries no session data itself, so serving it needs no authentication; the key the user enters is
kept in ``localStorage`` and sent as a bearer header, never put in a URL.
"""

import json
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from codeyard.domain.ids import normalize_session_id
from codeyard.errors import NotFoundError

router = APIRouter(include_in_schema=False)
_TEMPLATE = (Path(__file__).parent.parent / "static" / "session.html").read_text()
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(session_id: str) -> HTMLResponse:
    normalized = normalize_session_id(session_id)
    if normalized is None:
        raise NotFoundError("no such session")
    html = _TEMPLATE.replace("__SESSION_ID_JSON__", json.dumps(normalized))
    return HTMLResponse(html, headers=_HEADERS)
