"""``/v3beta1/…`` is an alias of ``/v3/…`` (contract §3): the path is rewritten before routing.

The reference's beta-only endpoints (service users, API keys, members) are served under ``/v3/…`` too, so
one rewrite covers every beta path and the v3 spelling of a beta endpoint works as well.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

_BETA = "/v3beta1/"


class BetaAliasMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(_BETA):
            path = "/v3/" + scope["path"][len(_BETA) :]
            scope = dict(scope, path=path, raw_path=path.encode())
        await self.app(scope, receive, send)
