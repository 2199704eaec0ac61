"""Retries: which failures are repeated, how often, and the Retry-After parsing (as a pure function)."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import pytest

from codeyard.sdk import BadRequestError, Client, InternalServerError, NotFoundError, RateLimitError
from codeyard.sdk._retry import RetryPolicy, parse_retry_after
from tests.sdk.fake_api import API_KEY, ORG, FakeAPI, Reply, session_json

SID = "devin-" + "d" * 32
GET_PATH = f"/v3/organizations/{ORG}/sessions/{SID}"
CREATE_PATH = f"/v3/organizations/{ORG}/sessions"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _busy(status: int) -> Reply:
    return Reply.problem(status, "Busy", "try again", **{"retry-after": "0"})


def test_get_is_retried_after_429_and_503_then_succeeds(api: FakeAPI, client: Client) -> None:
    api.on("GET", GET_PATH, _busy(429), _busy(503), Reply(json=session_json(SID)))

    assert client.sessions.get(SID).session_id == SID
    assert len(api.requests_to("GET", GET_PATH)) == 3


def test_create_is_retried_only_when_the_server_did_not_act(api: FakeAPI, client: Client) -> None:
    api.on("POST", CREATE_PATH, _busy(429), _busy(503), Reply(json=session_json(SID)))

    client.sessions.create(prompt="p")

    assert len(api.requests_to("POST", CREATE_PATH)) == 3


def test_create_is_not_repeated_after_a_500(api: FakeAPI, client: Client) -> None:
    # The server may have created the session before failing: repeating could create a second one.
    api.on("POST", CREATE_PATH, _busy(500), Reply(json=session_json(SID)))

    with pytest.raises(InternalServerError):
        client.sessions.create(prompt="p")

    assert len(api.requests_to("POST", CREATE_PATH)) == 1


def test_get_is_retried_after_a_500(api: FakeAPI, client: Client) -> None:
    api.on("GET", GET_PATH, _busy(500), Reply(json=session_json(SID)))

    client.sessions.get(SID)

    assert len(api.requests_to("GET", GET_PATH)) == 2


@pytest.mark.parametrize(("status", "error"), [(400, BadRequestError), (404, NotFoundError)])
def test_client_errors_are_not_retried(api: FakeAPI, client: Client, status: int, error: type[Exception]) -> None:
    api.on("GET", GET_PATH, _busy(status), Reply(json=session_json(SID)))

    with pytest.raises(error):
        client.sessions.get(SID)

    assert len(api.requests_to("GET", GET_PATH)) == 1


def test_gives_up_after_max_retries(api: FakeAPI) -> None:
    api.on("GET", GET_PATH, _busy(429))

    with Client(api.url, API_KEY, ORG, max_retries=3) as client, pytest.raises(RateLimitError):
        client.sessions.get(SID)

    assert len(api.requests_to("GET", GET_PATH)) == 4


def test_max_retries_zero_sends_once(api: FakeAPI) -> None:
    api.on("GET", GET_PATH, _busy(503), Reply(json=session_json(SID)))

    with Client(api.url, API_KEY, ORG, max_retries=0) as client, pytest.raises(InternalServerError):
        client.sessions.get(SID)

    assert len(api.requests_to("GET", GET_PATH)) == 1


def test_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("7", now=NOW) == 7.0
    assert parse_retry_after("1.5", now=NOW) == 1.5
    assert parse_retry_after(format_datetime(NOW + timedelta(seconds=30), usegmt=True), now=NOW) == 30.0
    assert parse_retry_after(format_datetime(NOW - timedelta(seconds=30), usegmt=True), now=NOW) == 0.0
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after("nan", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


def _response(status: int, retry_after: str | None = None) -> httpx2.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return httpx2.Response(status, headers=headers)


def test_policy_caps_retry_after_and_backs_off_otherwise() -> None:
    policy = RetryPolicy(max_retries=2)

    assert policy.delay_after_response(_response(429, "3600"), 0, idempotent=True) == 60.0
    assert policy.delay_after_response(_response(503, "2"), 1, idempotent=False) == 2.0
    backoff = policy.delay_after_response(_response(502), 1, idempotent=True)
    assert backoff is not None
    assert 0.75 <= backoff <= 1.0
    assert policy.delay_after_response(_response(429, "0"), 2, idempotent=True) is None


def test_policy_for_non_idempotent_requests() -> None:
    policy = RetryPolicy(max_retries=2)
    request = httpx2.Request("POST", "http://127.0.0.1/v3/organizations/sessions")

    assert policy.delay_after_response(_response(408), 0, idempotent=False) is None
    assert policy.delay_after_response(_response(502), 0, idempotent=False) is None
    assert policy.delay_after_error(httpx2.ConnectError("refused", request=request), 0, idempotent=False) is not None
    # A read error means the request may have reached the server: only idempotent requests are repeated.
    assert policy.delay_after_error(httpx2.ReadError("reset", request=request), 0, idempotent=False) is None
    assert policy.delay_after_error(httpx2.ReadError("reset", request=request), 0, idempotent=True) is not None
