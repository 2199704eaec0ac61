"""Per-key request limits and per-address limits on failed authentication (contract §3), with ``limits``.

Counters live in process memory: with several ``serve`` replicas each enforces the limit on its own share.
"""

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from codeyard.errors import RateLimitedError


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int


class RateLimiter:
    def __init__(self, per_key: str, auth_failures: str) -> None:
        self._storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._per_key: RateLimitItem = parse(per_key)
        self._auth_failures: RateLimitItem = parse(auth_failures)

    async def hit_key(self, api_key_id: str) -> Quota:
        """Count one request for a key; ``RateLimitedError`` when over the limit."""
        return await self._hit(self._per_key, "key", api_key_id, "too many requests for this API key")

    async def record_failure(self, address: str) -> None:
        """Count one failed authentication from ``address``; ``RateLimitedError`` once it failed too often.

        Called only after a key failed: a valid key is never refused for other clients' failures from the same
        address (a NAT, a CI runner, a proxy), while guessing stays limited.
        """
        item = self._auth_failures
        if not await self._limiter.hit(item, "authfail", address):
            stats = await self._limiter.get_window_stats(item, "authfail", address)
            raise self._error("too many failed authentication attempts from this address", item, stats.reset_time)

    async def _hit(self, item: RateLimitItem, kind: str, ident: str, detail: str) -> Quota:
        allowed = await self._limiter.hit(item, kind, ident)
        stats = await self._limiter.get_window_stats(item, kind, ident)
        if not allowed:
            raise self._error(detail, item, stats.reset_time)
        return Quota(item.amount, stats.remaining, math.ceil(stats.reset_time))

    @staticmethod
    def _error(detail: str, item: RateLimitItem, reset_time: float) -> RateLimitedError:
        retry_after = max(1, math.ceil(reset_time - time.time()))
        return RateLimitedError(detail, retry_after=retry_after, limit=item.amount, reset=math.ceil(reset_time))
