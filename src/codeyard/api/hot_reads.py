"""The two reads clients poll most, ``GET …/sessions/{id}`` and ``GET …/sessions/{id}/messages``, answered
before FastAPI's routing and dependency solving, which cost more than the read itself (issue 12, "Hot reads").

Innermost of the middleware, so the request id, the guards and the access log apply as to every request. It
takes only what it answers exactly as the routed endpoints would (same functions for authentication, the rate
limit, the org and role checks, the read, the rendering and the problem+json errors); everything else, including
any query it would have to validate (a repeated parameter, a ``first`` out of range), goes on to the routes:
- the method is ``GET``, no ``root_path``;
- the path is ``/v3/organizations[/org-…]/sessions/<session id>[/messages]``: the org segment starts with
  ``org-`` and the session segment is a session id in either spelling, so no literal path of another route
  (``/sessions/insights``, ``/organizations/sessions/…``) can take the same request first;
- for messages, ``after`` and ``first`` at most once each, ``first`` plain digits within ``First``'s bounds.
"""

import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from codeyard.api import errors, render
from codeyard.api.deps import _BEARER, _authenticate, _resolve_org, rate_headers
from codeyard.api.schemas.common import Paginated
from codeyard.api.schemas.sessions import MessageResponse
from codeyard.api.state import AppState
from codeyard.errors import CodeyardError
from codeyard.services.principal import Permission

_PATH = re.compile(
    r"/v3/organizations/(?:(org-[A-Za-z0-9_-]{1,64})/)?sessions/((?:devin-)?[0-9a-fA-F]{32})(/messages)?"
)
FIRST_MIN, FIRST_MAX, FIRST_DEFAULT = 1, 200, 100
"""``schemas.common.First`` and the routes' default page size."""
_MESSAGES = Paginated[MessageResponse]


class HotReadsMiddleware:
    def __init__(self, app: ASGIApp, *, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            match = _PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        org_id, devin_id, messages = match.groups()
        page: tuple[str | None, int] | None = None
        if messages:
            page = _page(scope.get("query_string", b""))
            if page is None:
                await self.app(scope, receive, send)
                return
        path_params = {"devin_id": devin_id} if org_id is None else {"org_id": org_id, "devin_id": devin_id}
        scope["path_params"] = path_params
        request = Request(scope, receive)
        try:
            response = await self._answer(request, devin_id, page)
        except CodeyardError as exc:
            response = errors.error_response(request, exc)
        await response(scope, receive, send)

    async def _answer(self, request: Request, devin_id: str, page: tuple[str | None, int] | None) -> Response:
        state = self.state
        principal, quota = await _authenticate(request, state, await _BEARER(request))
        principal.require(Permission.VIEW_SESSIONS)
        org_id = await _resolve_org(request, principal, state.services)
        sessions = state.services.sessions
        if page is None:
            row, position = await sessions.get_with_position(org_id, devin_id)
            body: Any = render.session(row, state.settings.resolved_public_url, position)
        else:
            after, first = page
            found = await sessions.messages(org_id, devin_id, after=after, first=first)
            body = _MESSAGES(
                items=[render.message(m) for m in found.items],
                end_cursor=found.end_cursor,
                has_next_page=found.has_next_page,
                total=found.total,
            )
        return render.json(body, rate_headers(quota))


def _page(query: bytes) -> tuple[str | None, int] | None:
    """``after`` and ``first`` of a messages read, or ``None`` when the routed endpoint must validate them."""
    after: str | None = None
    first: str | None = None
    if query:
        try:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, strict_parsing=False)
        except ValueError:
            return None
        for name, value in pairs:
            if name == "after":
                if after is not None:
                    return None
                after = value
            elif name == "first":
                if first is not None:
                    return None
                first = value
    if first is None:
        return after, FIRST_DEFAULT
    if not (first.isascii() and first.isdigit() and len(first) <= 3 and FIRST_MIN <= int(first) <= FIRST_MAX):
        return None
    return after, int(first)
