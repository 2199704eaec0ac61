"""Retrying transient model failures, in this one layer only.

Both SDKs are built with `max_retries=0`, so a rate limit is never retried twice over (SDK inside, us
outside). Each provider supplies a classifier that turns its SDK's exceptions into either a `Transient`
failure (429, 408, 409, 5xx, connection errors, timeouts, answers that are not the API's: worth another
attempt) or a final `ModelError`; the `Retrier` waits with exponential backoff and jitter between attempts,
or exactly as long as the server's `Retry-After` asks (capped), and gives up with `ModelUnavailableError` in
plain words.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx2
import structlog

from codeyard.agent.model import ModelError, ModelUnavailableError
from codeyard.agent.providers.answers import GarbledAnswerError

T = TypeVar("T")

_log = structlog.get_logger(__name__)

_OVERFLOW_WORDS = re.compile(r"context|prompt is too long|too many tokens|maximum (?:number of )?tokens", re.IGNORECASE)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait: attempt n waits about base_delay * 2**(n-1)."""

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0


@dataclass(frozen=True)
class Transient:
    """A failure that another attempt may cure; `retry_after` is the server's requested wait in seconds."""

    reason: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryNotice:
    """Told to the `on_retry` callback before each wait, so callers can show that the model is slow."""

    attempt: int
    delay: float
    reason: str


Classifier = Callable[[Exception], "Transient | ModelError | None"]
"""Maps an exception to a transient failure, a final error, or None for exceptions that are bugs."""


def is_retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait in seconds a response asks for, from `retry-after-ms` or `Retry-After` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, policy: RetryPolicy, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    A server's `Retry-After` is obeyed exactly, up to `max_delay`; otherwise the wait doubles each
    attempt, capped at `max_delay`, and is jittered down to half so that many sessions do not retry in step.
    """
    if retry_after is not None:
        return min(retry_after, policy.max_delay)
    ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)


def status_failure(status: int, message: str, headers: Mapping[str, str]) -> Transient | ModelError:
    """The shared reading of an HTTP error status (context overflow is recognised by each provider first).

    Messages name the model endpoint but not its URL: they reach the session's users, while the URL (which may
    carry credentials or an internal host name) is for the server's log."""
    if is_retryable_status(status):
        return Transient(f"HTTP {status}: {message}", parse_retry_after(headers))
    if status in (401, 403):
        return ModelError(f"the model endpoint refused the API key (HTTP {status}): {message}")
    if status == 404:
        return ModelError(
            f"the model endpoint answered HTTP 404 (check CODEYARD_MODEL and CODEYARD_MODEL_BASE_URL): {message}"
        )
    return ModelError(f"the model endpoint rejected the request (HTTP {status}): {message}")


def looks_like_context_overflow(status: int, code: str | None, message: str) -> bool:
    """Whether an error says the prompt does not fit the model's window.

    Providers word this differently (OpenAI `context_length_exceeded`, vLLM "maximum context length",
    llama.cpp "exceeds the available context size", Anthropic "prompt is too long"); 413 means the
    request body itself is too large, which condensing the history cures as well.
    """
    if status == 413:
        return True
    return status == 400 and (code == "context_length_exceeded" or _OVERFLOW_WORDS.search(message) is not None)


def transport_failure(exc: Exception) -> Transient | None:
    """Connection failures that escape the SDKs, such as a stream cut off half-way, and answers that are not the
    API's (an HTML page, bytes, cut JSON), which a proxy or an overloaded server sends with any status."""
    if isinstance(exc, GarbledAnswerError):
        return Transient(str(exc))
    if isinstance(exc, httpx2.TimeoutException):
        return Transient(f"timed out ({type(exc).__name__})")
    if isinstance(exc, httpx2.TransportError):
        return Transient(f"connection failed: {exc or type(exc).__name__}")
    return None


def body_message(body: object, fallback: str) -> str:
    """The provider's own explanation from an error body (`{"error": {"message": ...}}` and variants)."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
    if isinstance(body, str) and body:
        return body
    return fallback


class Retrier:
    """Runs one model request, retrying it while the classifier calls its failures transient."""

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        endpoint: str,
        classify: Classifier,
        on_retry: Callable[[RetryNotice], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._policy = policy
        self._endpoint = endpoint
        self._classify = classify
        self._on_retry = on_retry
        self._rng = rng or random.Random()

    async def run(self, request: Callable[[], Awaitable[T]]) -> T:
        attempts = self._policy.max_retries + 1
        attempt = 0
        while True:
            attempt += 1
            try:
                return await request()
            except Exception as exc:
                failure = self._classify(exc)
                if failure is None:
                    raise
                if isinstance(failure, ModelError):
                    _log.warning("model_failed", endpoint=self._endpoint, reason=str(failure))
                    raise failure from exc
                if attempt == attempts:
                    _log.warning("model_gave_up", endpoint=self._endpoint, attempts=attempts, reason=failure.reason)
                    raise ModelUnavailableError(
                        f"the model endpoint gave no usable answer in {attempts} "
                        f"attempt{'s' if attempts > 1 else ''}: {failure.reason}"
                    ) from exc
                delay = backoff_delay(attempt, self._policy, failure.retry_after, self._rng)
                _log.warning(
                    "model_retry",
                    endpoint=self._endpoint,
                    attempt=attempt,
                    delay=round(delay, 3),
                    reason=failure.reason,
                )
                if self._on_retry is not None:
                    self._on_retry(RetryNotice(attempt=attempt, delay=delay, reason=failure.reason))
                await asyncio.sleep(delay)
