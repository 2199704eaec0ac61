"""Sessions: request shapes (bodies, repeated query keys) and response parsing, including extensions."""

from codeyard.sdk import Client
from tests.sdk.fake_api import ORG, FakeAPI, Reply, message_json, page_json, session_json

BASE = f"/v3/organizations/{ORG}/sessions"
SID = "devin-" + "b" * 32


def test_create_sends_only_the_given_fields(api: FakeAPI, client: Client) -> None:
    api.on("POST", BASE, Reply(json=session_json(SID, status="new", queue_position=3)))

    session = client.sessions.create(prompt="Fix the flaky test", tags=["ci"], repos=["acme/app"])

    assert api.requests_to("POST", BASE)[0].json() == {
        "prompt": "Fix the flaky test",
        "tags": ["ci"],
        "repos": ["acme/app"],
    }
    assert (session.session_id, session.status) == (SID, "new")
    # Extension fields survive parsing.
    assert session.model_extra == {"queue_position": 3}
    assert session.to_json_dict()["queue_position"] == 3


def test_create_distinguishes_no_knowledge_from_all_knowledge(api: FakeAPI, client: Client) -> None:
    api.on("POST", BASE, Reply(json=session_json(SID)))

    client.sessions.create(prompt="a", knowledge_ids=[], secret_ids=None)
    client.sessions.create(prompt="b", knowledge_ids=["note-1"])

    first, second = (r.json() for r in api.requests_to("POST", BASE))
    assert first == {"prompt": "a", "knowledge_ids": [], "secret_ids": None}
    assert second == {"prompt": "b", "knowledge_ids": ["note-1"]}


def test_create_passes_every_other_field_through(api: FakeAPI, client: Client) -> None:
    api.on("POST", BASE, Reply(json=session_json(SID)))
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}

    client.sessions.create(
        prompt="p",
        title="T",
        attachment_urls=["http://x/a"],
        playbook_id="playbook-1",
        session_secrets=[{"key": "TOKEN", "value": "v", "sensitive": True}],
        max_acu_limit=2,
        structured_output_schema=schema,
        platform="linux",
        devin_mode="fast",
    )

    assert api.requests_to("POST", BASE)[0].json() == {
        "prompt": "p",
        "title": "T",
        "attachment_urls": ["http://x/a"],
        "playbook_id": "playbook-1",
        "session_secrets": [{"key": "TOKEN", "value": "v", "sensitive": True}],
        "max_acu_limit": 2,
        "structured_output_schema": schema,
        "platform": "linux",
        "devin_mode": "fast",
    }


def test_list_encodes_arrays_as_repeated_keys(api: FakeAPI, client: Client) -> None:
    api.on("GET", BASE, Reply(json=page_json([session_json(SID)], total=1)))

    page = client.sessions.list(first=5, tags=["a", "b"], session_ids=[SID], is_archived=False, created_after=10)

    (request,) = api.requests_to("GET", BASE)
    assert request.params("tags") == ["a", "b"]
    assert request.params("session_ids") == [SID]
    assert request.params("is_archived") == ["false"]
    assert request.params("first") == ["5"]
    assert request.params("created_after") == ["10"]
    assert request.params("after") == []
    assert [s.session_id for s in page.items] == [SID]
    assert (page.total, page.has_next_page, page.end_cursor) == (1, False, None)


def test_get_parses_the_full_session(api: FakeAPI, client: Client) -> None:
    pr = {
        "pr_url": "https://github.com/acme/app/pull/1",
        "pr_state": "open",
        "url": "https://github.com/acme/app/pull/1",
    }
    api.on("GET", f"{BASE}/{SID}", Reply(json=session_json(SID, pull_requests=[pr], acus_consumed=1.5)))

    session = client.sessions.get(SID)

    assert session.pull_requests[0].pr_url == pr["pr_url"]
    assert session.pull_requests[0].model_extra == {"url": pr["url"]}
    assert session.acus_consumed == 1.5
    assert session.created_at == 1767225600


def test_messages_and_send_message(api: FakeAPI, client: Client) -> None:
    api.on("GET", f"{BASE}/{SID}/messages", Reply(json=page_json([message_json(1, "user"), message_json(2)], "c2")))
    api.on("POST", f"{BASE}/{SID}/messages", Reply(json=session_json(SID, status="resuming")))

    page = client.sessions.messages(SID, first=2)
    session = client.sessions.send_message(SID, "also update the docs", attachment_urls=["http://x/f"])

    assert [(m.source, m.event_id) for m in page.items] == [("user", "evt-1"), ("devin", "evt-2")]
    assert page.end_cursor == "c2"
    assert api.requests_to("POST", f"{BASE}/{SID}/messages")[0].json() == {
        "message": "also update the docs",
        "attachment_urls": ["http://x/f"],
    }
    assert session.status == "resuming"


def test_events_filters(api: FakeAPI, client: Client) -> None:
    event = {
        "event_id": "e1",
        "event_type": "command",
        "category": "shell",
        "direction": "outgoing",
        "summary": "ls",
        "created_at": 5,
    }
    api.on("GET", f"{BASE}/{SID}/events", Reply(json=page_json([event])))

    page = client.sessions.events(
        SID, categories=["shell", "git"], event_types=["command"], direction="outgoing", created_before=99
    )

    (request,) = api.requests_to("GET", f"{BASE}/{SID}/events")
    assert request.params("categories") == ["shell", "git"]
    assert request.params("event_types") == ["command"]
    assert request.params("direction") == ["outgoing"]
    assert request.params("created_before") == ["99"]
    assert page.items[0].summary == "ls"


def test_attachments_accept_the_page_and_the_bare_array(api: FakeAPI, client: Client) -> None:
    item = {
        "attachment_id": "u1",
        "name": "log.txt",
        "source": "devin",
        "url": "http://x/s",
        "content_type": "text/plain",
    }
    api.on("GET", f"{BASE}/{SID}/attachments", Reply(json=page_json([item])), Reply(json=[item]))

    assert [a.name for a in client.sessions.attachments(SID)] == ["log.txt"]
    assert [a.source for a in client.sessions.attachments(SID)] == ["devin"]


def test_archive_and_terminate(api: FakeAPI, client: Client) -> None:
    api.on("POST", f"{BASE}/{SID}/archive", Reply(json=session_json(SID, is_archived=True)))
    api.on("DELETE", f"{BASE}/{SID}", Reply(json=session_json(SID, status="exit", status_detail="user_request")))

    assert client.sessions.archive(SID).is_archived is True
    assert client.sessions.terminate(SID, archive=True).status_detail == "user_request"
    assert api.requests_to("DELETE", f"{BASE}/{SID}")[0].params("archive") == ["true"]
    assert api.requests_to("POST", f"{BASE}/{SID}/archive")[0].body == b""


def test_tags(api: FakeAPI, client: Client) -> None:
    api.on("GET", f"{BASE}/{SID}/tags", Reply(json={"tags": ["a"]}))
    api.on("PUT", f"{BASE}/{SID}/tags", Reply(json={"tags": ["x", "y"]}))
    api.on("POST", f"{BASE}/{SID}/tags", Reply(json={"tags": ["x", "y", "z"]}))

    assert client.sessions.tags(SID) == ["a"]
    assert client.sessions.set_tags(SID, ["x", "y"]) == ["x", "y"]
    assert client.sessions.add_tags(SID, ("z",)) == ["x", "y", "z"]
    assert api.requests_to("PUT", f"{BASE}/{SID}/tags")[0].json() == {"tags": ["x", "y"]}
    assert api.requests_to("POST", f"{BASE}/{SID}/tags")[0].json() == {"tags": ["z"]}
