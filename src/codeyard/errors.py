"""The one error tree of codeyard's server side.

    CodeyardError
    ├── BadRequestError            malformed input the schema could not catch (a bad cursor, a bad upload)
    │   └── FieldError             one named field is invalid (rendered as a 422 naming the field)
    ├── AuthenticationError        no key, or an unknown, revoked or expired key
    ├── PermissionDeniedError      the key's role lacks a permission, or the org is not the key's
    │   └── LinkError              a signed download link was tampered with or has expired
    ├── NotFoundError              no such resource in the caller's organization
    ├── ConflictError              the request does not fit the resource's current state
    │   └── InvalidTransitionError a session lifecycle transition that the contract forbids
    ├── PayloadTooLargeError       an upload or body over the configured cap
    ├── RateLimitedError           too many requests; carries ``retry_after`` seconds
    ├── UnavailableError           a dependency (database, model, sandbox) could not serve the request
    └── StorageFullError           the disk (or the database) is full: writes fail, reads keep working

``is_out_of_storage`` recognises the same condition in the errors of other libraries (``OSError`` ENOSPC/EDQUOT,
SQLite's ``SQLITE_FULL``, PostgreSQL's ``disk_full``) wherever they surface.

Errors carry data, never HTTP codes: ``api/errors.py`` holds the single table from class to status.
Each class's docstring is its default message (procrastinate's convention).
"""

import errno


class CodeyardError(Exception):
    """Something went wrong."""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or (self.__doc__ or "").strip().splitlines()[0]
        super().__init__(self.detail)


class BadRequestError(CodeyardError):
    """The request is malformed."""


class FieldError(BadRequestError):
    """A field is invalid."""

    def __init__(self, field: str, detail: str, location: str = "body") -> None:
        self.field = field
        self.location = location
        super().__init__(detail)


class AuthenticationError(CodeyardError):
    """Missing, unknown, revoked or expired API key."""


class PermissionDeniedError(CodeyardError):
    """This API key is not allowed to do that."""


class LinkError(PermissionDeniedError):
    """The download link is invalid or has expired."""


class NotFoundError(CodeyardError):
    """Not found."""


class ConflictError(CodeyardError):
    """The request conflicts with the current state of the resource."""


class InvalidTransitionError(ConflictError):
    """That change of session status is not allowed."""


class PayloadTooLargeError(CodeyardError):
    """The request body is too large."""


class RateLimitedError(CodeyardError):
    """Too many requests."""

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, limit: int = 0, reset: int = 0) -> None:
        self.retry_after = retry_after
        self.limit = limit
        self.reset = reset
        super().__init__(detail)


class UnavailableError(CodeyardError):
    """A service this request needs is unavailable."""


class StorageFullError(CodeyardError):
    """The server is out of storage: free disk space on the server, then retry."""


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"


def is_out_of_storage(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it wraps (a cause, a context, a driver's ``orig``), says the storage is full."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, StorageFullError):
            return True
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        if getattr(current, "sqlite_errorcode", None) == _SQLITE_FULL or getattr(current, "sqlstate", None) == (
            _PG_DISK_FULL
        ):
            return True
        orig = getattr(current, "orig", None)
        pending.extend([current.__cause__, current.__context__, orig if isinstance(orig, BaseException) else None])
    return False
