"""The codeyard Python SDK: a typed client for the Devin-API-v3-compatible HTTP API.

It imports only httpx2, pydantic and the standard library, so it can ship on its own.

    from codeyard.sdk import Client

    with Client() as client:  # DEVIN_API_URL, DEVIN_API_KEY, DEVIN_ORG_ID
        session = client.sessions.create(prompt="Fix the flaky test in tests/test_api.py")
        for message in client.sessions.iter_messages(session.session_id):
            print(message.source, message.message)
"""

from codeyard.sdk._client import AsyncClient, Client
from codeyard.sdk._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    SDKError,
    UnprocessableEntityError,
)
from codeyard.sdk._request import NOT_GIVEN, NotGiven
from codeyard.sdk._version import __version__

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "NotGiven",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "SDKError",
    "UnprocessableEntityError",
    "__version__",
]
