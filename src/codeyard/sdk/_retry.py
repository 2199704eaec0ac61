"""When to repeat a failed request, and how long to wait first.

Idempotent requests (GET, PUT, PATCH, DELETE) are retried on 408, 429, 5xx and on any transport error.
A non-idempotent request (a POST that creates something) is repeated only when the server certainly did
not act on it: the connection never opened, or the answer was 429 or 503.
"""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx2

_RETRYABLE_STATUSES = frozenset({408, 429})
_NOT_ACTED_STATUSES = frozenset({429, 503})
_NOT_SENT_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter that honours `Retry-After` (capped at `max_retry_after` seconds)."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay_after_response(self, response: httpx2.Response, attempt: int, *, idempotent: bool) -> float | None:
        """Seconds to wait before repeating a request answered by `response`, or None to give up."""
        if attempt >= self.max_retries:
            return None
        status = response.status_code
        retryable = status in _NOT_ACTED_STATUSES if not idempotent else status in _RETRYABLE_STATUSES or status >= 500
        if not retryable:
            return None
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return self.backoff(attempt)

    def delay_after_error(self, error: httpx2.RequestError, attempt: int, *, idempotent: bool) -> float | None:
        """Seconds to wait before repeating a request that got no response, or None to give up."""
        if attempt >= self.max_retries or not isinstance(error, httpx2.TransportError):
            return None
        if not idempotent and not isinstance(error, _NOT_SENT_ERRORS):
            return None
        return self.backoff(attempt)

    def backoff(self, attempt: int) -> float:
        """0.5 s, 1 s, 2 s, ... up to `max_delay`, minus up to 25 % jitter so clients do not retry in step."""
        delay = min(self.initial_delay * 2.0**attempt, self.max_delay)
        return delay * (1 - 0.25 * random.random())


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Read a `Retry-After` header given as seconds or as an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
