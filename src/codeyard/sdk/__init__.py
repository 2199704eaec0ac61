"""The codeyard Python SDK: a typed client for the Devin-API-v3-compatible HTTP API.

It imports only httpx2, pydantic and the standard library, so it can ship on its own.

    from codeyard.sdk import Client

    with Client() as client:  # DEVIN_API_URL, DEVIN_API_KEY, DEVIN_ORG_ID
        session = client.sessions.create(prompt="Fix the flaky test in tests/test_api.py")
        for message in client.sessions.iter_messages(session.session_id):
            print(message.source, message.message)
"""

import importlib
from typing import TYPE_CHECKING, Any

from codeyard.sdk._version import __version__

if TYPE_CHECKING:
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
    from codeyard.sdk._plain import NOT_GIVEN, NotGiven

_HOME = {
    "AsyncClient": "_client",
    "Client": "_client",
    "NOT_GIVEN": "_plain",
    "NotGiven": "_plain",
}
"""Where each name lives; the errors are in ``_errors``. Imported on first use (PEP 562), so a program that imports
one light part of the package (the CLI for ``--help``) does not pay for httpx2 and pydantic."""

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


def __getattr__(name: str) -> Any:
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME.get(name, '_errors')}"), name)
    globals()[name] = value
    return value
