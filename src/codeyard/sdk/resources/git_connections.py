"""`client.git_connections`: the org's git hosts (contract §10), used by sessions to clone, push and open pull
requests. Managing them needs an org_admin key. The token is write-only: it is sent, never returned, and no
method or model of the SDK shows it again."""

from collections.abc import AsyncIterator, Iterator

from codeyard.sdk._plain import GitKind
from codeyard.sdk._request import NOT_GIVEN, Call, NotGiven, body, model, path, query
from codeyard.sdk.resources._base import AsyncResource, SyncResource
from codeyard.sdk.types import GitConnection, Page


def _list(after: str | None, first: int | None) -> Call[Page[GitConnection]]:
    return Call(
        "GET", "/git-connections", model(Page[GitConnection]), query=query(after=after, first=first), paging="cursor"
    )


def _create(host: str, token: str, kind: GitKind, api_url: str | None, username: str | None) -> Call[GitConnection]:
    fields = {"host": host, "kind": kind, "api_url": api_url, "username": username, "token": token}
    return Call("POST", "/git-connections", model(GitConnection), json=body(fields, drop_none=("api_url", "username")))


def _one(method: str, connection_id: str) -> Call[GitConnection]:
    return Call(method, path("git-connections", connection_id), model(GitConnection))


def _update(
    connection_id: str,
    host: str | NotGiven,
    kind: GitKind | NotGiven,
    api_url: str | NotGiven | None,
    username: str | NotGiven | None,
    token: str | NotGiven,
) -> Call[GitConnection]:
    fields = body({"host": host, "kind": kind, "api_url": api_url, "username": username, "token": token})
    return Call("PATCH", path("git-connections", connection_id), model(GitConnection), json=fields)


class GitConnections(SyncResource):
    def list(self, *, after: str | None = None, first: int | None = None) -> Page[GitConnection]:
        return self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> Iterator[GitConnection]:
        return self._iterate(_list(None, first))

    def create(
        self,
        *,
        host: str,
        token: str,
        kind: GitKind = "generic",
        api_url: str | None = None,
        username: str | None = None,
    ) -> GitConnection:
        """Connect a git host (`github.com`, …); `token` is stored encrypted and never returned."""
        return self._run(_create(host, token, kind, api_url, username))

    def get(self, connection_id: str) -> GitConnection:
        return self._run(_one("GET", connection_id))

    def update(
        self,
        connection_id: str,
        *,
        host: str | NotGiven = NOT_GIVEN,
        kind: GitKind | NotGiven = NOT_GIVEN,
        api_url: str | NotGiven | None = NOT_GIVEN,
        username: str | NotGiven | None = NOT_GIVEN,
        token: str | NotGiven = NOT_GIVEN,
    ) -> GitConnection:
        """Change only the fields given (PATCH); None clears `api_url` or `username`; a new `token` replaces it."""
        return self._run(_update(connection_id, host, kind, api_url, username, token))

    def delete(self, connection_id: str) -> GitConnection:
        return self._run(_one("DELETE", connection_id))


class AsyncGitConnections(AsyncResource):
    async def list(self, *, after: str | None = None, first: int | None = None) -> Page[GitConnection]:
        return await self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> AsyncIterator[GitConnection]:
        return self._iterate(_list(None, first))

    async def create(
        self,
        *,
        host: str,
        token: str,
        kind: GitKind = "generic",
        api_url: str | None = None,
        username: str | None = None,
    ) -> GitConnection:
        """Connect a git host (`github.com`, …); `token` is stored encrypted and never returned."""
        return await self._run(_create(host, token, kind, api_url, username))

    async def get(self, connection_id: str) -> GitConnection:
        return await self._run(_one("GET", connection_id))

    async def update(
        self,
        connection_id: str,
        *,
        host: str | NotGiven = NOT_GIVEN,
        kind: GitKind | NotGiven = NOT_GIVEN,
        api_url: str | NotGiven | None = NOT_GIVEN,
        username: str | NotGiven | None = NOT_GIVEN,
        token: str | NotGiven = NOT_GIVEN,
    ) -> GitConnection:
        """Change only the fields given (PATCH); None clears `api_url` or `username`; a new `token` replaces it."""
        return await self._run(_update(connection_id, host, kind, api_url, username, token))

    async def delete(self, connection_id: str) -> GitConnection:
        return await self._run(_one("DELETE", connection_id))
