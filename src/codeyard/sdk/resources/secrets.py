"""`client.secrets`: values given to sessions as environment variables; the API never returns a value."""

from collections.abc import AsyncIterator, Iterator

from codeyard.sdk._request import Call, body, model, path, query
from codeyard.sdk._secret_type import SecretType
from codeyard.sdk.resources._base import AsyncResource, SyncResource
from codeyard.sdk.types import Page, Secret


def _list(after: str | None, first: int | None) -> Call[Page[Secret]]:
    return Call("GET", "/secrets", model(Page[Secret]), query=query(after=after, first=first), paging="cursor")


def _create(key: str, value: str, secret_type: SecretType, is_sensitive: bool, note: str | None) -> Call[Secret]:
    fields = {"key": key, "type": secret_type, "value": value, "is_sensitive": is_sensitive, "note": note}
    return Call("POST", "/secrets", model(Secret), json=body(fields, drop_none=("note",)))


def _delete(secret_id: str) -> Call[Secret]:
    return Call("DELETE", path("secrets", secret_id), model(Secret))


class Secrets(SyncResource):
    def list(self, *, after: str | None = None, first: int | None = None) -> Page[Secret]:
        return self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> Iterator[Secret]:
        return self._iterate(_list(None, first))

    def create(
        self,
        *,
        key: str,
        value: str,
        type: SecretType = "key-value",
        is_sensitive: bool = True,
        note: str | None = None,
    ) -> Secret:
        """Store a secret (encrypted at rest); sensitive values are redacted from session output."""
        return self._run(_create(key, value, type, is_sensitive, note))

    def delete(self, secret_id: str) -> Secret:
        return self._run(_delete(secret_id))


class AsyncSecrets(AsyncResource):
    async def list(self, *, after: str | None = None, first: int | None = None) -> Page[Secret]:
        return await self._run(_list(after, first))

    def list_all(self, *, first: int | None = None) -> AsyncIterator[Secret]:
        return self._iterate(_list(None, first))

    async def create(
        self,
        *,
        key: str,
        value: str,
        type: SecretType = "key-value",
        is_sensitive: bool = True,
        note: str | None = None,
    ) -> Secret:
        """Store a secret (encrypted at rest); sensitive values are redacted from session output."""
        return await self._run(_create(key, value, type, is_sensitive, note))

    async def delete(self, secret_id: str) -> Secret:
        return await self._run(_delete(secret_id))
