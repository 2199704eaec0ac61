"""Session schemas (devin-api-reference §5)."""

import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import jsonschema
import re2
import referencing.exceptions
from pydantic import BaseModel, Field, StringConstraints, field_validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from codeyard.api.schemas.common import Identifier, Request, ShortText, Tag, Url


class SessionSecret(BaseModel):
    """A session-only secret; it reaches commands as the environment variable ``key`` (values are never echoed)."""

    key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")]
    value: Annotated[str, StringConstraints(max_length=65_536)]
    sensitive: bool = True

    @field_validator("value")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("a secret value must not contain a NUL character")
        return value


class SessionCreate(Request):
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
    title: ShortText | None = None
    tags: Annotated[list[Tag], Field(max_length=50)] | None = None
    playbook_id: Identifier | None = None
    child_playbook_id: Identifier | None = None
    knowledge_ids: Annotated[list[Identifier], Field(max_length=1000)] | None = None
    secret_ids: Annotated[list[Identifier], Field(max_length=1000)] | None = None
    session_secrets: Annotated[list[SessionSecret], Field(max_length=100)] | None = None
    max_acu_limit: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    repos: (
        Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=2083)]], Field(max_length=50)] | None
    ) = None
    attachment_urls: Annotated[list[Url], Field(max_length=100)] | None = None
    session_links: Annotated[list[Url], Field(max_length=100)] | None = None
    bypass_approval: bool | None = None
    create_as_user_id: Identifier | None = None
    devin_mode: ShortText | None = None
    platform: ShortText | None = None
    advanced_mode: ShortText | None = None
    structured_output_schema: dict[str, Any] | None = None
    structured_output_required: bool = True
    resumable: bool | None = None

    @field_validator("structured_output_schema")
    @classmethod
    def _schema_is_draft7(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if _depth(value) > MAX_SCHEMA_DEPTH:
            raise ValueError(f"the schema is nested deeper than {MAX_SCHEMA_DEPTH} levels")
        if len(json.dumps(value)) > 64 * 1024:
            raise ValueError("the schema is larger than 64 KB")
        try:
            jsonschema.Draft7Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema (Draft 7): {exc.message}") from exc
        _check_refs(value)
        _check_patterns(value)
        return value


_RE2 = re2.Options()
_RE2.log_errors = False
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def _patterns(node: Any) -> Iterator[str]:
    """Every ``pattern`` and ``patternProperties`` key of a schema (not of the data in ``enum``, ``const``, …)."""
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "pattern" and isinstance(child, str):
                yield child
            elif key == "patternProperties" and isinstance(child, dict):
                yield from (k for k in child if isinstance(k, str))
            if key not in _DATA_KEYWORDS:
                yield from _patterns(child)
    elif isinstance(node, list):
        for child in node:
            yield from _patterns(child)


def _reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def _check_patterns(schema: dict[str, Any]) -> None:
    """Patterns are matched with RE2 (linear time, see ``agent.output_schema``): one RE2 cannot compile is a 422."""
    for pattern in _patterns(schema):
        try:
            re2.compile(pattern, _RE2)
        except re2.error as exc:
            raise ValueError(
                f"the pattern {pattern[:100]!r} is not supported: patterns use RE2 syntax "
                f"(no backreferences or lookaround): {_reason(exc)}"
            ) from exc


MAX_SCHEMA_DEPTH = 32
"""Deepest nesting of objects and arrays in a ``structured_output_schema``: the validator walks it recursively."""


def _depth(value: Any) -> int:
    """How deeply ``value``'s objects and arrays nest, counted without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _refs(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "$ref":
                yield child
            else:
                yield from _refs(child)
    elif isinstance(node, list):
        for child in node:
            yield from _refs(child)


def _check_refs(schema: dict[str, Any]) -> None:
    """Every ``$ref`` must point inside the schema itself (self-contained, Draft 7): resolved now, not when the
    agent submits its output."""
    resolver = Registry().with_resource("urn:schema", DRAFT7.create_resource(schema)).resolver("urn:schema")
    for ref in _refs(schema):
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise ValueError(f"the schema must be self-contained: $ref {str(ref)[:100]!r} points outside it")
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable as exc:
            raise ValueError(f"$ref {ref[:100]!r} does not resolve inside the schema") from exc
    try:  # a schema that only refers to itself ({"$ref": "#"}) can never check anything
        jsonschema.Draft7Validator(schema).is_valid({})
    except RecursionError as exc:
        raise ValueError("the schema refers to itself without end") from exc


class PullRequest(BaseModel):
    pr_url: str
    pr_state: str | None = None
    url: str
    """A copy of ``pr_url`` for clients that read ``pull_requests[0].url`` (devin-api-reference §11)."""


class SessionResponse(BaseModel):
    session_id: str
    url: str
    status: str
    status_detail: str | None = None
    title: str | None = None
    tags: list[str]
    org_id: str
    user_id: str | None = None
    service_user_id: str | None = None
    playbook_id: str | None = None
    parent_session_id: str | None = None
    child_session_ids: list[str] = []
    is_archived: bool = False
    origin: str | None = None
    category: str | None = None
    subcategory: str | None = None
    created_at: int
    updated_at: int
    acus_consumed: float
    pull_requests: list[PullRequest]
    structured_output: Any | None = None
    # codeyard extensions
    queue_position: int | None = None
    """1-based place in the runner queue while the session waits in ``new`` or ``resuming``."""
    schedule_id: str | None = None
    repos: list[str] = []
    max_acu_limit: float | None = None
    error_message: str | None = None


class MessageCreate(Request):
    message: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
    attachment_urls: Annotated[list[Url], Field(max_length=100)] | None = None
    message_as_user_id: Identifier | None = None


class MessageResponse(BaseModel):
    event_id: str
    source: Literal["devin", "user"]
    message: str
    created_at: int


class EventResponse(BaseModel):
    event_id: str
    event_type: str
    category: str
    direction: Literal["incoming", "outgoing"]
    summary: str
    created_at: int
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="What happened (our extension): command, exit code, output excerpt, file path, diff excerpt, "
        "message, or the new status; redacted and cut (`truncated` lists the cut fields).",
    )


class TagsBody(Request):
    tags: Annotated[list[Tag], Field(max_length=50)]


class TagsResponse(BaseModel):
    tags: list[str]


class AttachmentItem(BaseModel):
    attachment_id: str
    name: str
    source: Literal["devin", "user"]
    url: str
    content_type: str | None = None


class AttachmentUploadResponse(BaseModel):
    attachment_id: str
    name: str
    url: str
