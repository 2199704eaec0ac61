"""The error answers of every operation in the OpenAPI document: problem+json (contract §3) for each status a
client can meet, so generated clients and fuzzers know them (FastAPI itself documents only 200 and 422)."""

from typing import Any

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An error (RFC 9457 problem details); `detail` is always a string.",
    "required": ["type", "title", "status", "detail", "instance", "request_id"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string", "description": "The HTTP status phrase."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, in plain words."},
        "instance": {"type": "string", "description": "The request path."},
        "request_id": {"type": "string", "description": "The `X-Request-Id` of the request, also in the server log."},
    },
}

EVERY_OPERATION = {
    "400": "Malformed request (a bad cursor, a body that is not JSON).",
    "401": "Missing, unknown, revoked or expired API key.",
    "403": "The key's role or organization does not allow this.",
    "404": "No such resource in the organization.",
    "409": "The request conflicts with the resource's current state.",
    "413": "The request body is larger than the server accepts.",
    "429": "Too many requests (per key), or too many failed authentications (per address).",
}
WRITES = {"507": "The server is out of storage; reads keep working."}

_RATE_HEADERS = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
    "X-RateLimit-Limit": {"schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "Epoch seconds when the window resets.", "schema": {"type": "integer"}},
}


def add_problem_responses(document: dict[str, Any]) -> dict[str, Any]:
    """Add the ``Problem`` schema, one shared response per error status, and a reference to each of them on every
    operation that does not document that status yet."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    shared: dict[str, Any] = components.setdefault("responses", {})
    for status, description in (EVERY_OPERATION | WRITES).items():
        shared[f"Problem{status}"] = {"description": description, "content": content}
    shared["Problem429"]["headers"] = _RATE_HEADERS
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in EVERY_OPERATION | (WRITES if method != "get" else {}):
                responses.setdefault(status, {"$ref": f"#/components/responses/Problem{status}"})
    return document
