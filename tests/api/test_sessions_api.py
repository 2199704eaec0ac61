"""Sessions over HTTP (contract §4, devin-api-reference §5): create, read, list and its filters, messages, events,
tags, archive and terminate, cross-org isolation and the role matrix. No runner exists in these tests: the
lifecycle is driven by applying ``codeyard.domain.lifecycle`` transitions to the stored rows."""

import json
import time
from typing import Any

from sqlalchemy import select, update

from codeyard.services.principal import Role
from codeyard.services.sessions import apply_state, state_of
from codeyard.storage.tables import AgentSessionRow, Playbook
from tests.conftest import ApiEnv

EVERY_FIELD: dict[str, Any] = {
    "prompt": "Upgrade the parser\nand keep the API stable",
    "title": "Parser upgrade",
    "tags": ["parser", "upgrade"],
    "child_playbook_id": "playbook-child",
    "knowledge_ids": [],
    "secret_ids": [],
    "max_acu_limit": 2.5,
    "repos": ["acme/app", "https://github.com/acme/lib.git"],
    "session_links": ["https://example.com/sessions/1"],
    "bypass_approval": True,
    "devin_mode": "fast",
    "platform": "windows",
    "advanced_mode": "improve",
    "structured_output_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
    "structured_output_required": False,
    "resumable": True,
}


async def create(api: ApiEnv, key: str | None = None, org_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"prompt": "Fix the flaky test", **fields}
    response = await api.client.post(api.org_path("/sessions", org_id), headers=api.auth(key), json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def drive(api: ApiEnv, session_id: str, *steps: str, **columns: Any) -> None:
    """Apply lifecycle transitions (``"claim"``, ``"start"``, ``"finish"`` …) and set columns on a stored session."""
    async with api.db.write() as s:
        row = await s.scalar(select(AgentSessionRow).where(AgentSessionRow.id == session_id))
        assert row is not None
        state = state_of(row)
        for step in steps:
            state = getattr(state, step)()
        await apply_state(s, row, state, time.time())
        for name, value in columns.items():
            setattr(row, name, value)


async def get(api: ApiEnv, session_id: str, key: str | None = None) -> dict[str, Any]:
    response = await api.client.get(api.org_path(f"/sessions/{session_id}"), headers=api.auth(key))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def listed(api: ApiEnv, params: Any = None, key: str | None = None) -> list[str]:
    response = await api.client.get(api.org_path("/sessions"), headers=api.auth(key), params=params)
    assert response.status_code == 200, response.text
    return [s["session_id"] for s in response.json()["items"]]


# -- create ----------------------------------------------------------------------------------------------


async def test_create_answers_the_full_session_response(api: ApiEnv) -> None:
    session = await create(api)
    required = {"session_id", "url", "status", "tags", "org_id", "created_at", "updated_at", "acus_consumed"}
    assert required | {"pull_requests", "is_archived", "child_session_ids", "structured_output"} <= set(session)
    hex_id = session["session_id"].removeprefix("devin-")
    assert session["url"] == f"http://testserver/sessions/{hex_id}"
    assert (session["status"], session["status_detail"]) == ("new", None)
    assert session["org_id"] == api.org_id
    assert session["origin"] == "api"
    assert session["acus_consumed"] == 0
    assert session["pull_requests"] == [] and session["tags"] == [] and session["is_archived"] is False
    me = (await api.client.get("/v3/self", headers=api.auth())).json()
    assert session["service_user_id"] == me["service_user_id"]
    assert session["queue_position"] == 1
    assert await get(api, session["session_id"]) == session


async def test_create_records_every_request_field(api: ApiEnv) -> None:
    async with api.db.write() as s:
        s.add(
            Playbook(
                id="playbook-release", org_id=api.org_id, title="Release", body="Steps", created_at=0, updated_at=0
            )
        )
    user = await api.services.identity.create_service_user("a person", Role.ORG_MEMBER, api.org_id)
    body = {
        **EVERY_FIELD,
        "create_as_user_id": user.id,
        "playbook_id": "playbook-release",
        "session_secrets": [{"key": "TOKEN", "value": "s3cr3t-value", "sensitive": True}],
        "an_unknown_field": "ignored",
    }
    session = await create(api, **body)
    assert session["title"] == "Parser upgrade"
    assert session["tags"] == ["parser", "upgrade"]
    assert session["playbook_id"] == "playbook-release"
    assert session["max_acu_limit"] == 2.5
    assert session["repos"] == EVERY_FIELD["repos"]
    assert session["user_id"] == user.id

    row = await api.services.sessions.get(api.org_id, session["session_id"])
    expected = {k: v for k, v in body.items() if k not in ("session_secrets", "an_unknown_field")}
    assert row.request == expected
    assert row.knowledge_ids == [] and row.secret_ids == []
    assert row.structured_output_schema == EVERY_FIELD["structured_output_schema"]
    assert row.session_secrets is not None
    assert b"s3cr3t-value" not in row.session_secrets
    assert api.services.vault.decrypt_json(row.session_secrets) == body["session_secrets"]


async def test_knowledge_and_secret_ids_default_to_null_meaning_all(api: ApiEnv) -> None:
    session = await create(api)
    row = await api.services.sessions.get(api.org_id, session["session_id"])
    assert row.knowledge_ids is None and row.secret_ids is None
    assert row.request == {"prompt": "Fix the flaky test"}


async def test_references_to_missing_playbooks_notes_or_secrets_are_422(api: ApiEnv) -> None:
    for field, value in (("playbook_id", "playbook-nope"), ("knowledge_ids", ["note-nope"]), ("secret_ids", ["s-1"])):
        response = await api.client.post(
            api.org_path("/sessions"), headers=api.auth(), json={"prompt": "x", field: value}
        )
        assert response.status_code == 422, field
        assert response.json()["detail"][0]["loc"] == ["body", field]


async def test_prompt_is_the_first_user_message_and_the_title_comes_from_it(api: ApiEnv) -> None:
    prompt = "\n\n  Make the importer idempotent  \nDetails follow."
    session = await create(api, prompt=prompt)
    assert session["title"] == "Make the importer idempotent"
    page = await api.client.get(api.org_path(f"/sessions/{session['session_id']}/messages"), headers=api.auth())
    assert [(m["source"], m["message"]) for m in page.json()["items"]] == [("user", prompt)]

    long_line = "word " * 40
    titled = await create(api, prompt=long_line)
    assert len(titled["title"]) <= 80 and titled["title"].endswith("…")
    assert long_line.startswith(titled["title"][:-1])
    blank_title = await create(api, prompt="Use the prompt", title="   ")
    assert blank_title["title"] == "Use the prompt"


async def test_create_validation(api: ApiEnv) -> None:
    cases: list[tuple[dict[str, Any], list[str | int]]] = [
        ({"prompt": "x", "max_acu_limit": 0}, ["body", "max_acu_limit"]),
        ({"prompt": "x", "max_acu_limit": -3}, ["body", "max_acu_limit"]),
        ({"prompt": "x", "structured_output_schema": {"type": "no-such-type"}}, ["body", "structured_output_schema"]),
        ({"prompt": "x", "structured_output_schema": {"properties": 5}}, ["body", "structured_output_schema"]),
        (
            {"prompt": "x", "structured_output_schema": {"$ref": "https://example.com/s.json"}},
            ["body", "structured_output_schema"],
        ),
        ({"prompt": "x", "tags": [f"t{i}" for i in range(51)]}, ["body", "tags"]),
        ({"prompt": "x", "tags": [""]}, ["body", "tags", 0]),
        ({"prompt": "x", "session_secrets": [{"key": "", "value": "v"}]}, ["body", "session_secrets", 0, "key"]),
        ({"prompt": "x", "attachment_urls": ["https://example.com/not-ours.txt"]}, ["body", "attachment_urls"]),
        ({"prompt": ""}, ["body", "prompt"]),
    ]
    for body, loc in cases:
        response = await api.client.post(api.org_path("/sessions"), headers=api.auth(), json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"] == loc, body
    assert await listed(api) == []


async def test_session_secret_values_are_never_echoed(api: ApiEnv) -> None:
    secret = "hunter2-very-secret"
    session = await create(api, session_secrets=[{"key": "DB_PASSWORD", "value": secret}])
    sid = session["session_id"]
    await api.client.post(api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": "go"})
    bodies = [json.dumps(session)]
    for suffix in ("", "/messages", "/events", "/tags", "/attachments"):
        bodies.append((await api.client.get(api.org_path(f"/sessions/{sid}{suffix}"), headers=api.auth())).text)
    bodies.append((await api.client.get(api.org_path("/sessions"), headers=api.auth())).text)
    assert all(secret not in body for body in bodies)
    row = await api.services.sessions.get(api.org_id, sid)
    assert secret not in json.dumps(row.request)


# -- list ------------------------------------------------------------------------------------------------


async def test_sessions_are_listed_newest_first_across_pages(api: ApiEnv) -> None:
    created = [(await create(api, prompt=f"task {i}"))["session_id"] for i in range(5)]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        params = {"first": 2, **({"after": after} if after else {})}
        page = (await api.client.get(api.org_path("/sessions"), headers=api.auth(), params=params)).json()
        pages += 1
        assert page["total"] == 5
        assert len(page["items"]) <= 2
        seen += [s["session_id"] for s in page["items"]]
        if not page["has_next_page"]:
            assert page["end_cursor"] is None
            break
        after = page["end_cursor"]
    assert pages == 3
    assert seen == list(reversed(created))


async def test_list_filters(api: ApiEnv) -> None:
    member = await api.key(Role.ORG_MEMBER)
    async with api.db.write() as s:
        s.add(Playbook(id="playbook-flt", org_id=api.org_id, title="Filter", body="b", created_at=0, updated_at=0))
    a = (await create(api, prompt="a", tags=["red", "blue"], repos=["acme/app"], playbook_id="playbook-flt"))[
        "session_id"
    ]
    b = (await create(api, member, prompt="b", tags=["blue"], repos=["https://github.com/acme/lib.git"]))["session_id"]
    person = (await api.services.identity.create_service_user("person", Role.ORG_MEMBER, api.org_id)).id
    c = (await create(api, prompt="c", create_as_user_id=person))["session_id"]
    await drive(api, b, origin="automation", schedule_id="sched-1", category="bug_fixing", created_at=1000.0)
    await drive(api, c, created_at=2000.0, updated_at=2000.0)
    await api.client.post(api.org_path(f"/sessions/{c}/archive"), headers=api.auth())
    await drive(api, c, updated_at=2000.0)
    member_id = (await api.client.get("/v3/self", headers=api.auth(member))).json()["service_user_id"]

    cases: list[tuple[Any, set[str]]] = [
        ({"tags": "blue"}, {a, b}),
        ([("tags", "red"), ("tags", "nope")], {a}),
        ([("tags[]", "red")], {a}),
        ({"session_ids": [a, c.removeprefix("devin-")]}, {a, c}),
        ([("session_ids[]", b)], {b}),
        ({"origins": "automation"}, {b}),
        ({"origins": ["api", "slack"]}, {a, c}),
        ({"repo_names": "acme/lib"}, {b}),
        ([("repo_names[]", "acme/app")], {a}),
        ({"schedule_id": "sched-1"}, {b}),
        ({"playbook_id": "playbook-flt"}, {a}),
        ({"category": "bug_fixing"}, {b}),
        ({"is_archived": "true"}, {c}),
        ({"is_archived": "false"}, {a, b}),
        ({"service_user_ids": member_id}, {b}),
        ({"user_ids": person}, {c}),
        ({"user_ids": f"nobody,{person}"}, {c}),
        ({"tags": "red,blue"}, {a, b}),
        ({"created_before": 1500}, {b}),
        ({"created_after": 1500, "created_before": 2500}, {c}),
        ({"created_after": 10_000}, {a}),
        ({"updated_before": 2000}, {c}),
        ({"updated_after": 10_000}, {a, b}),
        ({"tags": "blue", "origins": "api"}, {a}),
    ]
    for params, expected in cases:
        assert set(await listed(api, params)) == expected, params
    total = (await api.client.get(api.org_path("/sessions"), headers=api.auth(), params={"tags": "blue"})).json()
    assert total["total"] == 2


# -- messages and events -----------------------------------------------------------------------------------


async def test_messages_are_oldest_first_across_pages(api: ApiEnv) -> None:
    sid = (await create(api, prompt="first"))["session_id"]
    for i in range(4):
        sent = await api.client.post(
            api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": f"follow-up {i}"}
        )
        assert sent.status_code == 200
        assert sent.json()["session_id"] == sid
    texts: list[str] = []
    after = None
    while True:
        params = {"first": 2, **({"after": after} if after else {})}
        page = await api.client.get(api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), params=params)
        body = page.json()
        assert body["total"] == 5
        texts += [m["message"] for m in body["items"]]
        assert all(m["source"] == "user" for m in body["items"])
        if not body["has_next_page"]:
            break
        after = body["end_cursor"]
    assert texts == ["first", "follow-up 0", "follow-up 1", "follow-up 2", "follow-up 3"]


async def test_events_are_oldest_first_and_filterable(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    await api.client.post(api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": "more"})
    await api.client.post(api.org_path(f"/sessions/{sid}/archive"), headers=api.auth())
    path = api.org_path(f"/sessions/{sid}/events")
    items = (await api.client.get(path, headers=api.auth())).json()["items"]
    types = [e["event_type"] for e in items]
    assert types[:3] == ["session_created", "user_message", "user_message"]
    assert "status_changed" in types and types[-1] == "session_archived"
    assert set(items[0]) == {"event_id", "event_type", "category", "direction", "summary", "created_at", "details"}
    assert items[1]["details"] == {"message": "Fix the flaky test"} and items[2]["details"] == {"message": "more"}
    status = next(e for e in items if e["event_type"] == "status_changed")
    assert set(status["details"]) == {"status", "status_detail"}
    assert [e["created_at"] for e in items] == sorted(e["created_at"] for e in items)

    messages_only = (await api.client.get(path, headers=api.auth(), params={"categories": "message"})).json()
    assert [e["event_type"] for e in messages_only["items"]] == ["user_message", "user_message"]
    both = await api.client.get(
        path, headers=api.auth(), params=[("categories[]", "message"), ("categories", "status")]
    )
    assert {e["category"] for e in both.json()["items"]} == {"message", "status"}
    typed = await api.client.get(path, headers=api.auth(), params={"event_types": "session_archived"})
    assert [e["event_type"] for e in typed.json()["items"]] == ["session_archived"]
    incoming = (await api.client.get(path, headers=api.auth(), params={"direction": "incoming"})).json()["items"]
    assert incoming and all(e["direction"] == "incoming" for e in incoming)
    future = await api.client.get(path, headers=api.auth(), params={"created_after": int(time.time()) + 3600})
    assert future.json()["items"] == []


# -- steering: messages change the lifecycle ------------------------------------------------------------------


async def test_a_message_reopens_finished_and_suspended_sessions(api: ApiEnv) -> None:
    finished = (await create(api))["session_id"]
    await drive(api, finished, "claim", "start", "finish")
    assert (await get(api, finished))["status_detail"] == "finished"
    suspended = (await create(api))["session_id"]
    await drive(api, suspended, "claim", "start", "ask_user", "suspend_inactive")
    for sid in (finished, suspended):
        sent = await api.client.post(
            api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": "again"}
        )
        assert sent.status_code == 200
        assert (sent.json()["status"], sent.json()["status_detail"]) == ("resuming", None)
        assert sent.json()["queue_position"] is None or sent.json()["queue_position"] >= 1
        assert (await get(api, sid))["status"] == "resuming"


async def test_a_message_wakes_a_session_waiting_for_the_user(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    await drive(api, sid, "claim", "start", "ask_user")
    sent = await api.client.post(api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": "yes"})
    assert (sent.json()["status"], sent.json()["status_detail"]) == ("running", "working")


async def test_a_message_to_a_queued_session_waits_in_the_transcript(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    sent = await api.client.post(
        api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": "also"}
    )
    assert sent.json()["status"] == "new"
    messages = (await api.client.get(api.org_path(f"/sessions/{sid}/messages"), headers=api.auth())).json()
    assert [m["message"] for m in messages["items"]] == ["Fix the flaky test", "also"]


async def test_message_validation(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    for body in ({}, {"message": ""}, {"message": 7}, {"message": "x", "attachment_urls": "nope"}):
        response = await api.client.post(api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json=body)
        assert response.status_code == 422, body


# -- tags ------------------------------------------------------------------------------------------------------


async def test_tags_get_put_post(api: ApiEnv) -> None:
    sid = (await create(api, tags=["a", "b", "a"]))["session_id"]
    path = api.org_path(f"/sessions/{sid}/tags")
    assert (await api.client.get(path, headers=api.auth())).json() == {"tags": ["a", "b"]}
    added = await api.client.post(path, headers=api.auth(), json={"tags": ["b", "c", "c"]})
    assert added.json() == {"tags": ["a", "b", "c"]}
    replaced = await api.client.put(path, headers=api.auth(), json={"tags": ["z", "z", "y"]})
    assert replaced.json() == {"tags": ["z", "y"]}
    assert (await get(api, sid))["tags"] == ["z", "y"]
    assert await listed(api, {"tags": "a"}) == []
    assert await listed(api, {"tags": "y"}) == [sid]

    full = await api.client.put(path, headers=api.auth(), json={"tags": [f"t{i}" for i in range(50)]})
    assert len(full.json()["tags"]) == 50
    over = await api.client.post(path, headers=api.auth(), json={"tags": ["one-more"]})
    assert over.status_code == 422
    assert over.json()["detail"][0]["loc"] == ["body", "tags"]
    assert (
        await api.client.put(path, headers=api.auth(), json={"tags": [f"u{i}" for i in range(51)]})
    ).status_code == 422
    assert (await api.client.put(path, headers=api.auth(), json={"tags": "x"})).status_code == 422
    assert len((await api.client.get(path, headers=api.auth())).json()["tags"]) == 50


# -- archive and terminate ---------------------------------------------------------------------------------


async def test_archive_puts_a_queued_session_to_sleep_and_refuses_changes(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    path = api.org_path(f"/sessions/{sid}/archive")
    first = await api.client.post(path, headers=api.auth())
    assert first.status_code == 200
    body = first.json()
    assert body["is_archived"] is True
    assert (body["status"], body["status_detail"]) == ("suspended", "user_request")
    again = await api.client.post(path, headers=api.auth())
    assert again.status_code == 200
    assert (again.json()["status"], again.json()["is_archived"]) == ("suspended", True)

    message = await api.client.post(
        api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": "x"}
    )
    assert message.status_code == 409
    assert message.headers["content-type"].startswith("application/problem+json")
    assert "archived" in message.json()["detail"]
    tags = await api.client.post(api.org_path(f"/sessions/{sid}/tags"), headers=api.auth(), json={"tags": ["x"]})
    assert tags.status_code == 409
    assert (await get(api, sid))["tags"] == []


async def test_archiving_a_finished_session_keeps_its_status(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    await drive(api, sid, "claim", "start", "finish")
    body = (await api.client.post(api.org_path(f"/sessions/{sid}/archive"), headers=api.auth())).json()
    assert (body["status"], body["status_detail"], body["is_archived"]) == ("exit", "finished", True)


async def test_delete_terminates_for_good(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    await drive(api, sid, "claim", "start")
    deleted = await api.client.delete(api.org_path(f"/sessions/{sid}"), headers=api.auth())
    assert deleted.status_code == 200
    assert (deleted.json()["status"], deleted.json()["status_detail"]) == ("exit", "user_request")
    assert deleted.json()["is_archived"] is False
    message = await api.client.post(
        api.org_path(f"/sessions/{sid}/messages"), headers=api.auth(), json={"message": "x"}
    )
    assert message.status_code == 409
    assert "terminated" in message.json()["detail"]
    twice = await api.client.delete(api.org_path(f"/sessions/{sid}"), headers=api.auth())
    assert twice.status_code == 200 and twice.json()["status_detail"] == "user_request"
    types = [
        e["event_type"]
        for e in (await api.client.get(api.org_path(f"/sessions/{sid}/events"), headers=api.auth())).json()["items"]
    ]
    assert types.count("session_terminated") == 1


async def test_delete_with_archive_also_archives(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    body = (
        await api.client.delete(api.org_path(f"/sessions/{sid}"), headers=api.auth(), params={"archive": "true"})
    ).json()
    assert (body["status"], body["status_detail"], body["is_archived"]) == ("exit", "user_request", True)
    assert await listed(api, {"is_archived": "true"}) == [sid]


async def test_unknown_sessions_are_404_everywhere(api: ApiEnv) -> None:
    for sid in ("devin-" + "f" * 32, "f" * 32, "not-a-session-id"):
        for method, suffix, body in ENDPOINTS:
            response = await api.client.request(
                method, api.org_path(f"/sessions/{sid}{suffix}"), headers=api.auth(), json=body
            )
            assert response.status_code == 404, (method, suffix, sid)


async def test_both_id_spellings_reach_the_session(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    bare = sid.removeprefix("devin-")
    assert (await get(api, bare))["session_id"] == sid
    assert (await get(api, bare.upper()))["session_id"] == sid


# -- isolation and roles -------------------------------------------------------------------------------------

ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "", None),
    ("DELETE", "", None),
    ("POST", "/archive", None),
    ("GET", "/messages", None),
    ("POST", "/messages", {"message": "hello from elsewhere"}),
    ("GET", "/events", None),
    ("GET", "/attachments", None),
    ("GET", "/tags", None),
    ("PUT", "/tags", {"tags": ["mine"]}),
    ("POST", "/tags", {"tags": ["mine"]}),
]


async def test_another_orgs_sessions_are_404_on_every_endpoint(api: ApiEnv) -> None:
    secret_title = "Quarterly numbers for the board"
    theirs = await create(api, prompt=secret_title, tags=["private"])
    sid = theirs["session_id"]
    other_org, other_key = await api.new_org()
    member_of_other = await api.key(Role.ORG_MEMBER, other_org)
    for key in (other_key, member_of_other):
        for method, suffix, body in ENDPOINTS:
            for path in (
                api.org_path(f"/sessions/{sid}{suffix}", other_org),
                f"/v3/organizations/sessions/{sid}{suffix}",
            ):
                response = await api.client.request(method, path, headers=api.auth(key), json=body)
                assert response.status_code == 404, (method, path)
                assert secret_title not in response.text and "private" not in response.text
        found = await api.client.get(
            api.org_path("/sessions", other_org), headers=api.auth(key), params={"session_ids": sid}
        )
        assert found.json()["items"] == [] and found.json()["total"] == 0
    # Nothing they tried changed the session.
    after = await get(api, sid)
    assert (after["status"], after["is_archived"], after["tags"]) == ("new", False, ["private"])
    messages = (await api.client.get(api.org_path(f"/sessions/{sid}/messages"), headers=api.auth())).json()
    assert [m["message"] for m in messages["items"]] == [secret_title]


async def test_org_member_creates_reads_and_steers_sessions(api: ApiEnv) -> None:
    member = await api.key(Role.ORG_MEMBER)
    sid = (await create(api, member))["session_id"]
    assert sid in await listed(api, key=member)
    final = [("POST", "/archive"), ("DELETE", "")]
    steering = [e for e in ENDPOINTS if (e[0], e[1]) not in final] + [(m, s, None) for m, s in final]
    for method, suffix, body in steering:
        path = api.org_path(f"/sessions/{sid}{suffix}")
        response = await api.client.request(method, path, headers=api.auth(member), json=body)
        assert response.status_code == 200, (method, suffix, response.text)
    # An admin's session is visible to a member of the same org.
    admins = (await create(api))["session_id"]
    assert (await get(api, admins, member))["session_id"] == admins


async def test_enterprise_admin_steers_sessions_of_any_org(api: ApiEnv) -> None:
    other_org, other_key = await api.new_org()
    sid = (await create(api, other_key, other_org))["session_id"]
    path = api.org_path(f"/sessions/{sid}/messages", other_org)
    sent = await api.client.post(path, headers=api.auth(api.enterprise_key), json={"message": "from the enterprise"})
    assert sent.status_code == 200
    # The org key of the default org cannot, even by naming the right org.
    assert (await api.client.post(path, headers=api.auth(), json={"message": "x"})).status_code == 403


async def test_updated_at_moves_with_changes(api: ApiEnv) -> None:
    sid = (await create(api))["session_id"]
    async with api.db.write() as s:
        await s.execute(update(AgentSessionRow).where(AgentSessionRow.id == sid).values(updated_at=1000.0))
    await api.client.put(api.org_path(f"/sessions/{sid}/tags"), headers=api.auth(), json={"tags": ["t"]})
    assert (await get(api, sid))["updated_at"] > 1000
