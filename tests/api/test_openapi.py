"""The committed OpenAPI document is fresh, valid, and declares the bearer security generated clients need."""

import json

from openapi_spec_validator import validate

from codeyard.api.openapi import COMMITTED, document, render


def test_committed_document_is_fresh() -> None:
    assert COMMITTED.exists(), f"{COMMITTED} is missing: run `.venv/bin/python scripts/openapi.py --write`"
    if COMMITTED.read_text() != render():
        raise AssertionError(
            f"{COMMITTED} is stale (the routes changed): run `.venv/bin/python scripts/openapi.py --write`"
        )


def test_document_is_a_valid_openapi_document() -> None:
    validate(json.loads(COMMITTED.read_text()))


def test_every_v3_operation_requires_the_bearer_scheme() -> None:
    doc = document()
    schemes = doc["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme["type"] == "http" and scheme["scheme"].lower() == "bearer"
    operations = [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if path.startswith("/v3/")
    ]
    assert len(operations) > 10
    missing = [f"{method.upper()} {path}" for path, method, op in operations if op.get("security") != [{name: []}]]
    assert missing == []


def test_operation_ids_are_unique_and_lists_use_the_envelope() -> None:
    doc = document()
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    sessions = doc["paths"]["/v3/organizations/{org_id}/sessions"]["get"]
    ref = sessions["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    envelope = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"items", "end_cursor", "has_next_page", "total"} <= set(envelope["properties"])
    params = {p["name"] for p in sessions["parameters"]}
    assert {"after", "first", "tags", "session_ids", "origins", "repo_names", "is_archived", "created_after"} <= params


def test_every_operation_documents_its_problem_answers() -> None:
    doc = document()
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance", "request_id"}
    missing = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status in ("400", "401", "403", "404", "409", "413", "429"):
                ref = op["responses"].get(status, {}).get("$ref", "")
                shared = doc["components"]["responses"].get(ref.rsplit("/", 1)[-1], {})
                media = shared.get("content", {}).get("application/problem+json", {})
                if media.get("schema") != {"$ref": "#/components/schemas/Problem"}:
                    missing.append(f"{method.upper()} {path} {status}")
    assert missing == []
    assert "Retry-After" in doc["components"]["responses"]["Problem429"]["headers"]
