"""The one table from error class to HTTP status, and the problem+json rendering of contract §3."""

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from codeyard import errors
from codeyard.api.request_id import current_request_id

STATUS: dict[type[errors.CodeyardError], int] = {
    errors.BadRequestError: 400,
    errors.FieldError: 422,
    errors.AuthenticationError: 401,
    errors.PermissionDeniedError: 403,
    errors.LinkError: 403,
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.InvalidTransitionError: 409,
    errors.PayloadTooLargeError: 413,
    errors.RateLimitedError: 429,
    errors.UnavailableError: 503,
    errors.StorageFullError: 507,
    errors.CodeyardError: 500,
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}


_SECRET_FIELDS = frozenset({"session_secrets", "value", "secret", "password", "token"})
"""A rejected value under one of these names is never echoed back in a 422 (it may be a secret)."""


def status_of(exc: errors.CodeyardError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def printable(value: Any) -> Any:
    """``value`` made writable as strict UTF-8 JSON: a lone surrogate (``"\\ud800"``) or a ``NaN`` sent in a
    request and echoed back in its error must not turn a 4xx into a 500."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN or Infinity (which Python's JSON parser accepts) cannot be written back as JSON
    if isinstance(value, list | tuple):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    return value


def problem(status: int, detail: str, instance: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "type": f"https://codeyard.dev/problems/{status}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": printable(detail),
        "instance": printable(instance),
        "request_id": current_request_id(),
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


def validation_problem(loc: list[str | int], msg: str, kind: str = "value_error") -> JSONResponse:
    """FastAPI's 422 shape (contract §3) for a field our services rejected."""
    body: dict[str, Any] = {
        "detail": [{"loc": printable(loc), "msg": printable(msg), "type": kind}],
        "request_id": current_request_id(),
    }
    return JSONResponse(body, status_code=422)


def error_response(request: Request, exc: errors.CodeyardError) -> JSONResponse:
    """The answer to one of our errors (the application's handler, and the hot reads' own)."""
    if isinstance(exc, errors.FieldError):
        return validation_problem([exc.location, exc.field], exc.detail)
    headers = None
    if isinstance(exc, errors.RateLimitedError):
        headers = {
            "Retry-After": str(exc.retry_after),
            "X-RateLimit-Limit": str(exc.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(exc.reset),
        }
    elif isinstance(exc, errors.AuthenticationError):
        headers = {"WWW-Authenticate": "Bearer"}
    return problem(status_of(exc), exc.detail, request.url.path, headers)


def install(app: FastAPI) -> None:
    async def on_codeyard_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.CodeyardError)
        return error_response(request, exc)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        return problem(exc.status_code, detail, request.url.path, dict(exc.headers or {}))

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = []
        for err in exc.errors():
            item = {k: v for k, v in err.items() if k in ("loc", "msg", "type")}
            secret = any(str(part) in _SECRET_FIELDS for part in err.get("loc", ()))
            if "input" in err and not secret and isinstance(err["input"], str | int | float | bool | None):
                value = err["input"]
                item["input"] = value[:200] if isinstance(value, str) else value
            details.append(item)
        return JSONResponse({"detail": printable(details), "request_id": current_request_id()}, status_code=422)

    app.add_exception_handler(errors.CodeyardError, on_codeyard_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
