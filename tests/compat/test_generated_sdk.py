"""The official generated Devin SDK (PyPI ``devinai``, module ``devin_sdk``) in strict response validation against
a live server: every resource it has, called as its users call it (issue 13). Strict mode raises on any response
that does not match the SDK's own models, so each call here checks a documented shape end to end."""

from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, start_server, stop_server

devin_sdk = pytest.importorskip("devin_sdk", reason="the generated SDK (devinai) is a dev dependency")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("sdk-strict") / "data", {"CODEYARD_RUNNER_ENABLED": "false"})
    yield live
    stop_server(live)


@pytest.fixture
def sdk(server: LiveServer) -> Iterator[object]:
    client = devin_sdk.DevinSDK(
        api_key=server.org_key, base_url=server.url, _strict_response_validation=True, max_retries=0
    )
    yield client
    client.close()


def test_sessions_messages_tags_attachments(sdk, server: LiveServer) -> None:
    org = server.org_id
    sessions = sdk.organizations.sessions
    uploaded = sdk.organizations.attachments.upload(org_id=org, file=("notes.txt", b"hello", "text/plain"))
    created = sessions.create(
        org_id=org, prompt=f'Fix the bug\nATTACHMENT:"{uploaded.url}"', tags=["a", "b"], title="Bug"
    )
    assert created.session_id.startswith("devin-")
    assert created.status == "new"
    got = sessions.retrieve(created.session_id, org_id=org)
    assert got.title == "Bug"
    page = sessions.list(org_id=org, tags=["a", "zzz"], first=10)
    assert [s.session_id for s in page.items] == [created.session_id]

    attachments = sessions.list_attachments(created.session_id, org_id=org)
    assert [a.name for a in attachments] == ["notes.txt"]

    sessions.messages.send(created.session_id, org_id=org, message="also the docs")
    messages = sessions.messages.list(created.session_id, org_id=org)
    assert [m.message for m in messages.items][-1] == "also the docs"
    events = sessions.events.list(created.session_id, org_id=org)
    assert events.items
    found = sessions.events.search(created.session_id, org_id=org, query="ALSO THE DOCS")
    assert [item.event_type for item in found.items] == ["user_message"]
    assert "also the docs" in found.items[0].match_context
    assert sessions.events.search(created.session_id, org_id=org, query="nowhere-to-be-found").items == []
    first_two = sessions.events.retrieve_details(created.session_id, org_id=org, offset=0, limit=2)
    assert [item.event_id for item in first_two.items] == [e.event_id for e in events.items[:2]]
    by_id = sessions.events.retrieve_details(
        created.session_id, org_id=org, event_ids=[found.items[0].event_id], max_content_length=100
    )
    assert by_id.items[0].contents.get("message") == "also the docs"

    assert sorted(sessions.tags.retrieve(created.session_id, org_id=org).tags) == ["a", "b"]
    sessions.tags.append(created.session_id, org_id=org, tags=["c"])
    assert sessions.tags.replace(created.session_id, org_id=org, tags=["z"]).tags == ["z"]

    insights = sessions.insights.retrieve(created.session_id, org_id=org)
    assert insights.num_user_messages == 2
    generated = sessions.insights.generate(created.session_id, org_id=org)
    assert generated.status in ("started", "already_exists")
    listed = sessions.insights.list(org_id=org)
    assert [i.session_id for i in listed.items] == [created.session_id]

    archived = sessions.archive(created.session_id, org_id=org)
    assert archived.is_archived is True
    other = sessions.create(org_id=org, prompt="to stop")
    stopped = sessions.terminate(other.session_id, org_id=org)
    assert stopped.status == "exit"


def test_knowledge_playbooks_secrets_schedules(sdk, server: LiveServer) -> None:
    org = server.org_id
    notes = sdk.organizations.knowledge.notes
    note = notes.create(org_id=org, name="Deploys", body="make deploy", trigger="when deploying")
    assert note.folder_path == ""
    assert notes.retrieve(note.note_id, org_id=org).name == "Deploys"
    assert notes.update(note.note_id, org_id=org, name="D", body="b", trigger="t").name == "D"
    assert [n.note_id for n in notes.list(org_id=org).items] == [note.note_id]
    sdk.organizations.knowledge.get_folders(org_id=org)
    notes.delete(note.note_id, org_id=org)

    playbooks = sdk.organizations.playbooks
    playbook = playbooks.create(org_id=org, title="Release", body="steps", macro="!release")
    assert playbooks.retrieve(playbook.playbook_id, org_id=org).title == "Release"
    assert playbooks.update(playbook.playbook_id, org_id=org, title="R", body="s").title == "R"
    assert playbooks.list(org_id=org).items
    playbooks.delete(playbook.playbook_id, org_id=org)

    secrets = sdk.organizations.secrets
    secret = secrets.create(org_id=org, key="TOKEN", type="key-value", value="s3cr3t")
    assert [s.secret_id for s in secrets.list(org_id=org).items] == [secret.secret_id]
    secrets.delete(secret.secret_id, org_id=org)

    schedules = sdk.organizations.schedules
    schedule = schedules.create(org_id=org, name="Nightly", prompt="check", frequency="0 3 * * *")
    assert schedules.retrieve(schedule.scheduled_session_id, org_id=org).name == "Nightly"
    schedules.update(schedule.scheduled_session_id, org_id=org, name="Nightly checks")
    assert schedules.list(org_id=org).items
    schedules.delete(schedule.scheduled_session_id, org_id=org)


def test_consumption(sdk, server: LiveServer) -> None:
    org = server.org_id
    daily = sdk.organizations.consumption.daily
    assert daily.get(org_id=org).total_acus == 0
    session = sdk.organizations.sessions.create(org_id=org, prompt="p")
    assert daily.get_session(session.session_id, org_id=org).consumption_by_date == []
    assert daily.get_service_user(session.service_user_id, org_id=org).total_acus == 0
    assert daily.get_user(session.service_user_id, org_id=org).total_acus == 0
    with pytest.raises(devin_sdk.NotFoundError):
        daily.get_user("nobody", org_id=org)


def test_metrics(sdk, server: LiveServer) -> None:
    import time

    org = server.org_id
    now = int(time.time())
    window = {"time_after": now - 7 * 86400, "time_before": now + 60}
    sessions = sdk.organizations.sessions
    sessions.create(org_id=org, prompt="metrics one")
    sessions.create(org_id=org, prompt="metrics two")
    metrics = sdk.organizations.metrics
    assert metrics.get_active_users(org_id=org, **window).active_users == 1
    days = metrics.get_daily_active_users(org_id=org, **window)
    assert len(days) == 8
    assert days[-1].active_users == 1
    assert sum(d.active_users for d in days[:-2]) == 0  # the module's other tests made sessions a moment ago
    assert metrics.get_weekly_active_users(org_id=org, **window)[-1].active_users == 1
    assert metrics.get_monthly_active_users(org_id=org, **window)[0].active_users == 1
    session_metrics = metrics.get_session_metrics(org_id=org, **window)
    assert session_metrics.sessions_created_count >= 2
    assert session_metrics.sessions_created_by_origin.api >= 2
    assert metrics.get_pr_metrics(org_id=org, **window).prs_created_count == 0
    assert metrics.get_search_metrics(org_id=org, **window).searches_created_count == 0
    assert metrics.get_usage_metrics(org_id=org, **window).sessions_count >= 2
    with pytest.raises(devin_sdk.UnprocessableEntityError):
        metrics.get_usage_metrics(org_id=org, time_after=now, time_before=now - 1)
