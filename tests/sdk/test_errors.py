"""Every error status maps to its exception, with the server's detail and request id; no response at all
is a connection error. The API key appears in none of the messages."""

import socket

import pytest

from codeyard.sdk import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from tests.sdk.fake_api import API_KEY, ORG, FakeAPI, Reply

SID = "devin-" + "c" * 32
PATH = f"/v3/organizations/{ORG}/sessions/{SID}"


@pytest.mark.parametrize(
    ("status", "title", "error"),
    [
        (400, "Bad Request", BadRequestError),
        (401, "Unauthorized", AuthenticationError),
        (403, "Forbidden", PermissionDeniedError),
        (404, "Not Found", NotFoundError),
        (409, "Conflict", ConflictError),
        (413, "Content Too Large", PayloadTooLargeError),
        (422, "Unprocessable Content", UnprocessableEntityError),
        (429, "Too Many Requests", RateLimitError),
        (500, "Internal Server Error", InternalServerError),
        (502, "Bad Gateway", InternalServerError),
    ],
)
def test_status_maps_to_its_exception(api: FakeAPI, status: int, title: str, error: type[APIStatusError]) -> None:
    api.on("GET", PATH, Reply.problem(status, title, f"session {SID} is unhappy"))

    with Client(api.url, API_KEY, ORG, max_retries=0) as client, pytest.raises(error) as excinfo:
        client.sessions.get(SID)

    exc = excinfo.value
    assert exc.status_code == status
    assert exc.request_id is not None
    assert exc.request_id.startswith("req-")
    assert exc.detail == f"session {SID} is unhappy"
    assert exc.message == f"{status} {title}: session {SID} is unhappy"
    assert str(exc) == f"{exc.message} (request id {exc.request_id})"
    assert isinstance(exc.body, dict)
    assert exc.body["status"] == status
    assert API_KEY not in str(exc)


def test_fastapi_validation_errors_are_flattened(api: FakeAPI, client: Client) -> None:
    body = {"detail": [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]}
    api.on("POST", f"/v3/organizations/{ORG}/sessions", Reply(status=422, json=body))

    with pytest.raises(UnprocessableEntityError) as excinfo:
        client.sessions.create(prompt="")

    assert excinfo.value.message == "422 Unprocessable Entity: body.prompt: Field required"
    assert excinfo.value.body == body


def test_non_json_error_body_uses_the_text(api: FakeAPI, client: Client) -> None:
    api.on("GET", PATH, Reply(status=404, content=b"nothing here"))

    with pytest.raises(NotFoundError, match="404 Not Found: nothing here"):
        client.sessions.get(SID)


def test_unexpected_success_body_is_a_validation_error(api: FakeAPI, client: Client) -> None:
    api.on("GET", PATH, Reply(json={"session_id": SID}))

    with pytest.raises(APIResponseValidationError) as excinfo:
        client.sessions.get(SID)

    assert excinfo.value.status_code == 200
    assert PATH in str(excinfo.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_a_connection_error() -> None:
    client = Client(f"http://127.0.0.1:{_closed_port()}", API_KEY, ORG, max_retries=0)
    with client, pytest.raises(APIConnectionError) as excinfo:
        client.sessions.get(SID)

    assert not isinstance(excinfo.value, APITimeoutError)
    assert "cannot reach the API" in str(excinfo.value)
    assert API_KEY not in str(excinfo.value)


def test_slow_answer_is_a_timeout(api: FakeAPI) -> None:
    api.on("GET", PATH, Reply(json={}, delay=0.5))

    client = Client(api.url, API_KEY, ORG, max_retries=0, timeout=0.05)
    with client, pytest.raises(APITimeoutError, match="timed out"):
        client.sessions.get(SID)
