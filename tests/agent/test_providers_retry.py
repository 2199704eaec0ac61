"""The retry layer on its own: delays, Retry-After, classification of HTTP statuses, giving up."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx2
import pytest

from codeyard.agent.model import ModelError, ModelUnavailableError
from codeyard.agent.providers.answers import GarbledAnswerError, describe, json_object
from codeyard.agent.providers.retry import (
    Retrier,
    RetryNotice,
    RetryPolicy,
    Transient,
    backoff_delay,
    body_message,
    looks_like_context_overflow,
    parse_retry_after,
    status_failure,
    transport_failure,
)

POLICY = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=30.0)


def test_retry_after_seconds_is_the_delay() -> None:
    retry_after = parse_retry_after(httpx2.Headers({"Retry-After": "7"}))
    assert retry_after == 7.0
    assert backoff_delay(1, POLICY, retry_after, random.Random(1)) == 7.0
    assert backoff_delay(4, POLICY, retry_after, random.Random(1)) == 7.0


def test_retry_after_is_capped_at_the_maximum_delay() -> None:
    assert backoff_delay(1, POLICY, 3600.0, random.Random(1)) == 30.0


def test_retry_after_http_date_counts_from_now() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    header = format_datetime(datetime(2026, 5, 1, 12, 0, 12, tzinfo=UTC), usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=now) == 12.0
    assert parse_retry_after({"retry-after": header}, now=now + 60) == 0.0


def test_retry_after_milliseconds_header_wins() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


@pytest.mark.parametrize("headers", [{}, {"retry-after": "soon"}, {"retry-after": ""}])
def test_missing_or_unreadable_retry_after_is_none(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers) is None


def test_backoff_doubles_with_jitter_and_stays_under_the_cap() -> None:
    rng = random.Random(42)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 30.0), (20, 30.0)]:
        delays = {backoff_delay(attempt, POLICY, None, rng) for _ in range(50)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), (attempt, sorted(delays))
        assert len(delays) > 1  # jittered, so many sessions do not retry in step


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retried(status: int) -> None:
    failure = status_failure(status, "busy", httpx2.Headers({"retry-after": "3"}))
    assert failure == Transient(f"HTTP {status}: busy", 3.0)


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "refused the API key"),
        (403, "refused the API key"),
        (404, "answered HTTP 404 (check CODEYARD_MODEL and CODEYARD_MODEL_BASE_URL)"),
        (400, "rejected the request"),
    ],
)
def test_final_statuses_are_errors_in_plain_words(status: int, words: str) -> None:
    failure = status_failure(status, "the provider said no", {})
    assert isinstance(failure, ModelError)
    assert str(failure).startswith(f"the model endpoint {words}")
    assert f"HTTP {status}" in str(failure) and str(failure).endswith("the provider said no")


@pytest.mark.parametrize(
    ("status", "code", "message", "overflow"),
    [
        (400, "context_length_exceeded", "too long", True),
        (400, None, "This model's maximum context length is 4096 tokens. However, you requested 5000", True),
        (400, None, "the request exceeds the available context size, try increasing it", True),
        (400, None, "prompt is too long: 210000 tokens > 200000 maximum", True),
        (413, None, "request_too_large", True),
        (400, None, "tools.0.name: String should match pattern", False),
        (401, None, "context of your account is invalid", False),
    ],
)
def test_context_overflow_detection(status: int, code: str | None, message: str, overflow: bool) -> None:
    assert looks_like_context_overflow(status, code, message) is overflow


def test_body_message_reads_the_common_error_shapes() -> None:
    assert body_message({"error": {"message": "nested"}}, "fallback") == "nested"
    assert body_message({"message": "flat"}, "fallback") == "flat"
    assert body_message({"error": "as a string"}, "fallback") == "as a string"
    assert body_message("plain text body", "fallback") == "plain text body"
    assert body_message(None, "fallback") == "fallback"


def test_transport_errors_are_transient_and_others_are_not() -> None:
    request = httpx2.Request("POST", "http://model/v1/chat/completions")
    assert isinstance(transport_failure(httpx2.ReadTimeout("slow", request=request)), Transient)
    assert isinstance(transport_failure(httpx2.RemoteProtocolError("cut off", request=request)), Transient)
    assert transport_failure(ValueError("a bug")) is None
    garbled = transport_failure(GarbledAnswerError("the model endpoint answered HTTP 200 with an HTML page"))
    assert garbled == Transient("the model endpoint answered HTTP 200 with an HTML page")


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"", "application/json", "an empty body"),
        (b"  \n", "", "an empty body"),
        (
            b"<!DOCTYPE html><html><title>\n  Service &amp; Co\n</title>",
            "text/html",
            'an HTML page titled "Service & Co"',
        ),
        (b"<html><body>oops</body></html>", "text/plain", "an HTML page"),
        (b"\xff\xfe\x00garbage", "application/octet-stream", "10 bytes of binary data (application/octet-stream)"),
        (b"\xff\xfe", "", "2 bytes of binary data"),
        (b'{"choices": [{"mess', "application/json", "JSON cut off after 19 bytes"),
        (b'[{"a": 1},', "application/json", "JSON cut off after 10 bytes"),
        (b"Bad Gateway", "text/plain", 'text that is not JSON ("Bad Gateway")'),
        (b"x" * 100, "text/plain", 'text that is not JSON ("' + "x" * 60 + '…")'),
        (b'{"error": "quota"}', "application/json", 'an error ("quota")'),
        (b'{"error": {"message": "no"}}', "application/json", 'an error ("no")'),
        (b"[1, 2]", "application/json", 'JSON of another shape ("[1, 2]")'),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "JSON nested too deeply to read"),
    ],
)
def test_garbled_answers_are_described_in_plain_words(body: bytes, content_type: str, words: str) -> None:
    assert describe(body, content_type) == words


def test_json_object_returns_objects_and_names_anything_else() -> None:
    assert json_object(200, b'{"a": 1}', "application/json", "an answer") == {"a": 1}
    with pytest.raises(GarbledAnswerError, match="JSON nested too deeply"):
        json_object(200, b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "application/json", "an answer")
    with pytest.raises(GarbledAnswerError) as caught:
        json_object(200, b'"just a string"', "application/json", "an answer")
    assert (
        str(caught.value)
        == 'the model endpoint answered HTTP 200 with JSON of another shape (""just a string"") instead of an answer'
    )


def _classify(exc: Exception) -> Transient | ModelError | None:
    if isinstance(exc, ConnectionError):
        return Transient(f"connection failed: {exc}")
    if isinstance(exc, PermissionError):
        return ModelError(f"denied: {exc}")
    return None


async def test_retrier_gives_up_after_max_retries_with_the_last_reason() -> None:
    attempts: list[int] = []
    notices: list[RetryNotice] = []

    async def request() -> str:
        attempts.append(len(attempts) + 1)
        raise ConnectionError(f"refused #{len(attempts)}")

    retrier = Retrier(
        policy=RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.002),
        endpoint="http://model/v1",
        classify=_classify,
        on_retry=notices.append,
    )
    with pytest.raises(ModelUnavailableError) as caught:
        await retrier.run(request)

    assert attempts == [1, 2, 3]
    assert [notice.attempt for notice in notices] == [1, 2]
    assert str(caught.value) == "the model endpoint gave no usable answer in 3 attempts: connection failed: refused #3"
    assert isinstance(caught.value.__cause__, ConnectionError)


async def test_retrier_recovers_and_returns_the_answer() -> None:
    calls = 0

    async def request() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("not yet")
        return "answer"

    retrier = Retrier(policy=RetryPolicy(3, 0.001, 0.002), endpoint="http://model", classify=_classify)
    assert await retrier.run(request) == "answer"
    assert calls == 3


async def test_retrier_raises_final_errors_at_once_and_lets_bugs_through() -> None:
    calls = 0

    async def denied() -> str:
        nonlocal calls
        calls += 1
        raise PermissionError("no")

    async def buggy() -> str:
        raise KeyError("a bug in our code")

    retrier = Retrier(policy=RetryPolicy(5, 0.001, 0.002), endpoint="http://model", classify=_classify)
    with pytest.raises(ModelError, match="denied: no") as caught:
        await retrier.run(denied)
    assert calls == 1
    assert isinstance(caught.value.__cause__, PermissionError)
    with pytest.raises(KeyError):
        await retrier.run(buggy)


async def test_no_retries_means_one_attempt() -> None:
    async def request() -> str:
        raise ConnectionError("down")

    retrier = Retrier(policy=RetryPolicy(0, 0.001, 0.002), endpoint="http://model", classify=_classify)
    with pytest.raises(ModelUnavailableError, match="gave no usable answer in 1 attempt: connection failed: down"):
        await retrier.run(request)
