"""The exceptions the SDK raises, and the one place that turns an HTTP error response into one.

    SDKError
    ├── ConfigurationError        the client cannot be built (no or unusable API key, bad API URL)
    └── APIError                  a request to the API failed
        ├── APIStatusError        the server answered with a non-2xx status
        │   ├── BadRequestError           400
        │   ├── AuthenticationError       401
        │   ├── PermissionDeniedError     403
        │   ├── NotFoundError             404
        │   ├── ConflictError             409
        │   ├── PayloadTooLargeError      413
        │   ├── UnprocessableEntityError  422
        │   ├── RateLimitError            429
        │   └── InternalServerError       >= 500
        ├── APIResponseValidationError    a 2xx body did not match the expected schema
        └── APIConnectionError    no response at all (refused, reset, DNS, ...)
            └── APITimeoutError   the request timed out

Messages never contain the API key: they are built from the status, the problem body and the URL path.
"""

from http import HTTPStatus
from typing import Any

import httpx2


class SDKError(Exception):
    """Base class of every exception raised by `codeyard.sdk`."""


class ConfigurationError(SDKError):
    """A setting is missing or unusable (no API key, a key that cannot go in a header, a URL that is not http(s))."""


class APIError(SDKError):
    """A request to the API failed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIStatusError(APIError):
    """The server answered with a non-2xx status; `body` is the decoded error body (or its text)."""

    def __init__(
        self, message: str, *, status_code: int, request_id: str | None, body: object, response: httpx2.Response
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.response = response

    @property
    def detail(self) -> str:
        """The human-readable part of the error, without the status prefix."""
        return _detail_text(self.body)

    def __str__(self) -> str:
        suffix = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.message}{suffix}"


class BadRequestError(APIStatusError):
    """400: the request was malformed (for example a bad pagination cursor)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, unknown, expired or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but its role may not do this, or a signed link was tampered with or expired."""


class NotFoundError(APIStatusError):
    """404: no such resource in the caller's organization."""


class ConflictError(APIStatusError):
    """409: the resource is in a state that forbids the request (for example a message to a terminated session)."""


class PayloadTooLargeError(APIStatusError):
    """413: the upload is larger than the server accepts."""


class UnprocessableEntityError(APIStatusError):
    """422: the request body or query failed validation."""


class RateLimitError(APIStatusError):
    """429: too many requests for this key; the response says when to retry."""


class InternalServerError(APIStatusError):
    """5xx: the server failed."""


class APIResponseValidationError(APIError):
    """The server answered 2xx, but the body is not what this SDK version expects (a server/SDK mismatch)."""

    def __init__(self, message: str, *, response: httpx2.Response) -> None:
        super().__init__(message)
        self.status_code = response.status_code
        self.request_id = response.headers.get("x-request-id")
        self.response = response


class APIConnectionError(APIError):
    """No response was received: the connection was refused, reset or could not be opened."""


class APITimeoutError(APIConnectionError):
    """The request timed out before a complete response arrived."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(response: httpx2.Response) -> APIStatusError:
    """Build the exception for a non-2xx response from its problem+json (or FastAPI 422) body."""
    body = _decode_body(response)
    title = _title(response.status_code, body)
    detail = _detail_text(body)
    message = (
        f"{response.status_code} {title}: {detail}" if detail and detail != title else f"{response.status_code} {title}"
    )
    cls = _STATUS_ERRORS.get(response.status_code)
    if cls is None:
        cls = InternalServerError if response.status_code >= 500 else APIStatusError
    return cls(
        message,
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
        body=body,
        response=response,
    )


def _decode_body(response: httpx2.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text


def _title(status_code: int, body: object) -> str:
    if isinstance(body, dict) and isinstance(body.get("title"), str) and body["title"]:
        return str(body["title"])
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def _detail_text(body: object) -> str:
    """Flatten `detail` (a string for problem+json, a list of field errors for FastAPI 422) into one line."""
    if isinstance(body, str):
        return body.strip()
    if not isinstance(body, dict):
        return ""
    detail: Any = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(_field_error(item) for item in detail)
    for key in ("message", "error"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return ""


def _field_error(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = ".".join(str(part) for part in item.get("loc", []))
    msg = str(item.get("msg", ""))
    return f"{loc}: {msg}" if loc else msg
