"""The two thin bases every resource builds on: one runs calls synchronously, the other awaits them."""

from collections.abc import AsyncIterator, Iterator
from typing import Protocol, TypeVar

from codeyard.sdk._request import Call, next_page
from codeyard.sdk._streaming import AsyncStreamer, SyncStreamer
from codeyard.sdk.types import Page

T = TypeVar("T")


class SyncExecutor(SyncStreamer, Protocol):
    def _execute(self, call: Call[T]) -> T: ...


class AsyncExecutor(AsyncStreamer, Protocol):
    async def _execute(self, call: Call[T]) -> T: ...


class SyncResource:
    def __init__(self, client: SyncExecutor) -> None:
        self._client = client

    def _run(self, call: Call[T]) -> T:
        return self._client._execute(call)

    def _iterate(self, call: Call[Page[T]]) -> Iterator[T]:
        """Yield every item of every page, fetching the next page only when the current one is used up."""
        current: Call[Page[T]] | None = call
        while current is not None:
            page = self._run(current)
            yield from page.items
            current = next_page(current, page)


class AsyncResource:
    def __init__(self, client: AsyncExecutor) -> None:
        self._client = client

    async def _run(self, call: Call[T]) -> T:
        return await self._client._execute(call)

    async def _iterate(self, call: Call[Page[T]]) -> AsyncIterator[T]:
        """Yield every item of every page, fetching the next page only when the current one is used up."""
        current: Call[Page[T]] | None = call
        while current is not None:
            page = await self._run(current)
            for item in page.items:
                yield item
            current = next_page(current, page)
