"""Cross-org isolation, generated from the OpenAPI document: every org-scoped operation, called by another
organization's admin key with this organization's ids, answers 403 (the path names an org the key cannot access)
or 404 (the resource is not in the key's org), and changes nothing. New endpoints are covered without anyone
remembering to: an operation whose path parameter has no entry in ``RESOURCES`` fails the test, naming it.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from codeyard.api.openapi import document
from tests.conftest import ApiEnv

pytestmark = pytest.mark.slow  # every org-scoped operation: among the longest files

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Victim:
    """Org A's resources, created with org A's key; the attacker holds an org-admin key of org B."""

    org_id: str
    ids: dict[str, str]


async def _session(api: ApiEnv) -> dict[str, str]:
    r = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json={"prompt": "victim session"})
    return {"devin_id": r.json()["session_id"], "session_id": r.json()["session_id"]}


async def _note(api: ApiEnv) -> dict[str, str]:
    body = {"name": "victim note", "body": "secret body", "trigger": "victim"}
    r = await api.client.post(api.org_path("/knowledge/notes"), headers=api.auth(), json=body)
    return {"note_id": r.json()["note_id"]}


async def _playbook(api: ApiEnv) -> dict[str, str]:
    r = await api.client.post(api.org_path("/playbooks"), headers=api.auth(), json={"title": "victim", "body": "b"})
    return {"playbook_id": r.json()["playbook_id"]}


async def _secret(api: ApiEnv) -> dict[str, str]:
    r = await api.client.post(api.org_path("/secrets"), headers=api.auth(), json={"key": "VICTIM", "value": "v"})
    return {"secret_id": r.json()["secret_id"]}


async def _schedule(api: ApiEnv) -> dict[str, str]:
    body = {"prompt": "victim schedule", "frequency": "0 3 * * *"}
    r = await api.client.post(api.org_path("/schedules"), headers=api.auth(), json=body)
    return {"schedule_id": r.json()["scheduled_session_id"]}


async def _attachment(api: ApiEnv) -> dict[str, str]:
    files = {"file": ("victim.txt", b"victim data", "text/plain")}
    r = await api.client.post(api.org_path("/attachments"), headers=api.auth(), files=files)
    return {"attachment_id": r.json()["attachment_id"], "name": r.json()["name"]}


async def _service_user(api: ApiEnv) -> dict[str, str]:
    body = {"name": "victim bot", "role_id": "org_member"}
    r = await api.client.post(api.org_path("/service-users"), headers=api.auth(), json=body)
    user_id = r.json()["service_user"]["service_user_id"]
    keys = await api.client.get(api.org_path(f"/service-users/{user_id}/api-keys"), headers=api.auth())
    return {"service_user_id": user_id, "user_id": user_id, "api_key_id": keys.json()["items"][0]["api_key_id"]}


async def _git_connection(api: ApiEnv) -> dict[str, str]:
    body = {"host": "git.victim.example", "kind": "gitea", "token": "victim-token-123"}
    r = await api.client.post(api.org_path("/git-connections"), headers=api.auth(), json=body)
    return {"connection_id": r.json()["connection_id"]}


async def _webhook(api: ApiEnv) -> dict[str, str]:
    body = {"url": "https://1.1.1.1/codeyard-victim"}  # an address literal: no DNS, and nothing is ever sent
    r = await api.client.post(api.org_path("/webhooks"), headers=api.auth(), json=body)
    return {"webhook_id": r.json()["webhook_id"]}


RESOURCES: list[Callable[[ApiEnv], Awaitable[dict[str, str]]]] = [
    _session,
    _note,
    _playbook,
    _secret,
    _schedule,
    _attachment,
    _service_user,
    _git_connection,
    _webhook,
]
"""How to create one resource of org A for each id a path can hold. A new endpoint with a new path parameter
needs its creator here (the test says which parameter is missing)."""


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    doc = document()
    found = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                found.append((path, method, op))
    return found


def org_scoped(path: str) -> bool:
    return path.startswith("/v3/organizations/{org_id}/")


def request_body(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    """A small valid JSON body for ``op`` (required fields only), so that a 404 is not hidden behind a 422."""
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    value = example(doc, content["application/json"]["schema"])
    return value if isinstance(value, dict) else {}


def example(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example(doc, doc["components"]["schemas"][name])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return example(doc, options[0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example(doc, props[name]) for name in schema.get("required", []) if name in props}
    if kind == "array":
        return []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if schema.get("pattern") == "^[A-Za-z_][A-Za-z0-9_]{0,255}$":
        return "KEY"
    return "0 3 * * *" if schema.get("title") in ("Frequency", "Cron Schedule") else "x"


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)


async def test_every_org_scoped_operation_refuses_another_orgs_ids(api: ApiEnv) -> None:
    victim = Victim(api.org_id, {})
    for create in RESOURCES:
        victim.ids |= await create(api)
    attacker_org, attacker_key = await api.new_org("attacker")
    doc = document()
    ops = [(p, m, op) for p, m, op in operations() if org_scoped(p)]
    assert len(ops) >= 25, "the document lost its org-scoped operations"

    unknown = sorted({n for p, _, _ in ops for n in re.findall(r"{(\w+)}", p)} - {"org_id", *victim.ids})
    assert unknown == [], f"add a creator to RESOURCES for the path parameters {unknown}"

    leaks = []
    for path, method, op in ops:
        body = request_body(doc, op)
        # 1. The victim org named in the path: the attacker's key cannot access it.
        url = fill(path, {**victim.ids, "org_id": victim.org_id})
        r = await api.client.request(method.upper(), url, headers=api.auth(attacker_key), json=body)
        if r.status_code != 403:
            leaks.append(f"{method.upper()} {path} naming org A → {r.status_code} {r.text[:150]}")
        # 2. The attacker's own org in the path (and the org-less form) with the victim's ids: not found.
        if set(re.findall(r"{(\w+)}", path)) == {"org_id"}:
            continue
        for url in (
            fill(path, {**victim.ids, "org_id": attacker_org}),
            fill(path.replace("/{org_id}", ""), victim.ids),
        ):
            r = await api.client.request(method.upper(), url, headers=api.auth(attacker_key), json=body)
            if r.status_code != 404:
                leaks.append(f"{method.upper()} {url} with org A's ids → {r.status_code} {r.text[:150]}")
    assert leaks == []

    # Nothing of org A changed: its session still runs, its note, playbook, secret and schedule are intact.
    session = (await api.client.get(api.org_path(f"/sessions/{victim.ids['devin_id']}"), headers=api.auth())).json()
    assert session["status"] == "new" and not session["is_archived"] and session["tags"] == []
    for suffix in (
        f"/knowledge/notes/{victim.ids['note_id']}",
        f"/playbooks/{victim.ids['playbook_id']}",
        f"/schedules/{victim.ids['schedule_id']}",
    ):
        assert (await api.client.get(api.org_path(suffix), headers=api.auth())).status_code == 200, suffix
    secrets = (await api.client.get(api.org_path("/secrets"), headers=api.auth())).json()["items"]
    assert [s["secret_id"] for s in secrets] == [victim.ids["secret_id"]]


async def test_enterprise_operations_refuse_an_org_key(api: ApiEnv) -> None:
    doc = document()
    ops = [(p, m, op) for p, m, op in operations() if p.startswith("/v3/enterprise/")]
    assert ops
    for path, method, op in ops:
        ids = {name: f"{name}-x" for name in re.findall(r"{(\w+)}", path)} | {"org_id": api.org_id}
        url = fill(path, ids)
        r = await api.client.request(method.upper(), url, headers=api.auth(), json=request_body(doc, op))
        assert r.status_code == 403, f"{method.upper()} {path} → {r.status_code}"
    assert (await api.client.get("/v3/self", headers=api.auth())).status_code == 200
