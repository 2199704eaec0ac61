"""`client.organizations`: the enterprise's organizations (needs an enterprise key)."""

from collections.abc import AsyncIterator, Iterator

from codeyard.sdk._request import NOT_GIVEN, Call, NotGiven, body, model, nothing, path, query
from codeyard.sdk.resources._base import AsyncResource, SyncResource
from codeyard.sdk.types import Organization, Page

_BASE = "/enterprise/organizations"


def _list(after: str | None, first: int | None) -> Call[Page[Organization]]:
    return Call(
        "GET", _BASE, model(Page[Organization]), scope="v3", query=query(after=after, first=first), paging="cursor"
    )


def _create(name: str, max_cycle_acu_limit: float | None, max_session_acu_limit: float | None) -> Call[Organization]:
    fields = {"name": name, "max_cycle_acu_limit": max_cycle_acu_limit, "max_session_acu_limit": max_session_acu_limit}
    json = body(fields, drop_none=("max_cycle_acu_limit", "max_session_acu_limit"))
    return Call("POST", _BASE, model(Organization), scope="v3", json=json)


def _get(org_id: str) -> Call[Organization]:
    return Call("GET", _BASE + path(org_id), model(Organization), scope="v3")


def _update(
    org_id: str,
    name: str | NotGiven,
    max_cycle_acu_limit: float | NotGiven | None,
    max_session_acu_limit: float | NotGiven | None,
) -> Call[Organization]:
    fields = {"name": name, "max_cycle_acu_limit": max_cycle_acu_limit, "max_session_acu_limit": max_session_acu_limit}
    return Call("PATCH", _BASE + path(org_id), model(Organization), scope="v3", json=body(fields))


def _delete(org_id: str) -> Call[None]:
    return Call("DELETE", _BASE + path(org_id), nothing, scope="v3")


class Organizations(SyncResource):
    def list(self, *, after: str | None = None, first: int | None = None) -> Page[Organization]:
        return self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> Iterator[Organization]:
        return self._iterate(_list(None, first))

    def create(
        self, *, name: str, max_cycle_acu_limit: float | None = None, max_session_acu_limit: float | None = None
    ) -> Organization:
        return self._run(_create(name, max_cycle_acu_limit, max_session_acu_limit))

    def get(self, org_id: str) -> Organization:
        return self._run(_get(org_id))

    def update(
        self,
        org_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        max_cycle_acu_limit: float | NotGiven | None = NOT_GIVEN,
        max_session_acu_limit: float | NotGiven | None = NOT_GIVEN,
    ) -> Organization:
        """Change only the given fields; None clears a limit."""
        return self._run(_update(org_id, name, max_cycle_acu_limit, max_session_acu_limit))

    def delete(self, org_id: str) -> None:
        self._run(_delete(org_id))


class AsyncOrganizations(AsyncResource):
    async def list(self, *, after: str | None = None, first: int | None = None) -> Page[Organization]:
        return await self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> AsyncIterator[Organization]:
        return self._iterate(_list(None, first))

    async def create(
        self, *, name: str, max_cycle_acu_limit: float | None = None, max_session_acu_limit: float | None = None
    ) -> Organization:
        return await self._run(_create(name, max_cycle_acu_limit, max_session_acu_limit))

    async def get(self, org_id: str) -> Organization:
        return await self._run(_get(org_id))

    async def update(
        self,
        org_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        max_cycle_acu_limit: float | NotGiven | None = NOT_GIVEN,
        max_session_acu_limit: float | NotGiven | None = NOT_GIVEN,
    ) -> Organization:
        """Change only the given fields; None clears a limit."""
        return await self._run(_update(org_id, name, max_cycle_acu_limit, max_session_acu_limit))

    async def delete(self, org_id: str) -> None:
        await self._run(_delete(org_id))
