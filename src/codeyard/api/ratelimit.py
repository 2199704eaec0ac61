"""Per-key request limits and per-address limits on failed authentication (contract §3).

A moving window: a request is allowed when fewer than ``amount`` requests of the same key were allowed in the last
``window`` seconds. Rates are written as ``limits`` parses them (``"600/minute"``, ``"30 per 1 second"``).

The window is kept here, not in ``limits``' asyncio memory storage: that storage hands its expiry scan to a thread
(``asyncio.to_thread``) after nearly every hit, one thread hop per request on the hottest reads (issue 12, "Hot
reads", measured in ``docs/benchmarks.md``). Here a hit is a few operations on a deque, on the event loop, with no
lock (one event loop, no ``await`` inside).

Counters live in process memory: with several ``serve`` replicas each enforces the limit on its own share.
"""

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse

from codeyard.errors import RateLimitedError

SWEEP_EVERY = 4096
"""Hits between two sweeps of idle keys, so keys that stopped sending (a one-off address) do not stay forever."""


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int


class MovingWindow:
    """The times of the allowed hits of each key within the last ``window`` seconds, oldest first."""

    def __init__(self, item: RateLimitItem, clock: Callable[[], float] = time.time) -> None:
        self.amount = item.amount
        self.window = float(item.get_expiry())
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._until_sweep = SWEEP_EVERY

    def now(self) -> float:
        return self._clock()

    def hit(self, key: str) -> tuple[bool, int, float]:
        """Count one hit of ``key`` if the window allows it: ``(allowed, remaining, reset)``, where ``reset`` is
        the time at which the oldest hit in the window leaves it (a refused caller may try again then)."""
        now = self.now()
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        cutoff = now - self.window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        allowed = len(hits) < self.amount
        if allowed:
            hits.append(now)
        reset = (hits[0] if hits else now) + self.window
        return allowed, self.amount - len(hits), reset

    def _sweep(self, now: float) -> None:
        self._until_sweep = SWEEP_EVERY
        cutoff = now - self.window
        for key in [key for key, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]


class RateLimiter:
    def __init__(self, per_key: str, auth_failures: str) -> None:
        self._per_key = MovingWindow(parse(per_key))
        self._auth_failures = MovingWindow(parse(auth_failures))

    async def hit_key(self, api_key_id: str) -> Quota:
        """Count one request for a key; ``RateLimitedError`` when over the limit."""
        window = self._per_key
        allowed, remaining, reset = window.hit(api_key_id)
        if not allowed:
            raise self._error("too many requests for this API key", window, reset)
        return Quota(window.amount, remaining, math.ceil(reset))

    async def record_failure(self, address: str) -> None:
        """Count one failed authentication from ``address``; ``RateLimitedError`` once it failed too often.

        Called only after a key failed: a valid key is never refused for other clients' failures from the same
        address (a NAT, a CI runner, a proxy), while guessing stays limited.
        """
        window = self._auth_failures
        allowed, _, reset = window.hit(address)
        if not allowed:
            raise self._error("too many failed authentication attempts from this address", window, reset)

    @staticmethod
    def _error(detail: str, window: MovingWindow, reset: float) -> RateLimitedError:
        retry_after = max(1, math.ceil(reset - window.now()))
        return RateLimitedError(detail, retry_after=retry_after, limit=window.amount, reset=math.ceil(reset))
