"""Which knowledge notes a session's agent is given: the trigger rule, pins, and ``knowledge_ids``."""

import pytest

from codeyard.services.knowledge import NoteSpec, content_words, pin_applies, trigger_matches
from tests.conftest import ApiEnv

BILLING = "when working on the billing service"


@pytest.mark.parametrize(
    ("trigger", "text"),
    [
        (BILLING, "fix the invoice rounding bug in the billing service"),
        (BILLING, "The BILLING Service crashes on startup"),
        (BILLING, "billing-service: flaky test"),
        (BILLING, "refactor billing_service.py"),
        (BILLING, "speed up the billing services"),
        ("deploy", "please deploy the app"),
        ("Deploy", "DEPLOY!"),
        ("unit tests", "add a unit test for the parser"),
        ("database migration scripts postgres", "write the postgres migration scripts"),
        ("questions about the Über API", "document the ÜBER api"),
        ("Kubernetes, Helm or Terraform changes", "helm and terraform changes for staging"),
        ("frontend (React)", "the react frontend flickers"),
    ],
)
def test_trigger_matches(trigger: str, text: str) -> None:
    assert trigger_matches(trigger, text)


@pytest.mark.parametrize(
    ("trigger", "text"),
    [
        (BILLING, "write docs"),
        (BILLING, "rebill the service"),  # one of two content words, and "rebill" is not "billing"
        (BILLING, "billingservice is down"),  # whole words only
        (BILLING, ""),
        ("deploy", "redeploy the app"),
        ("deploy", "deployment notes"),
        ("database migration scripts postgres", "write a postgres migration"),  # 2 of 4 is not more than half
        ("when it is", "when it is what it is"),  # only stop words: never matches
        ("", "anything at all"),
        ("class loader", "the class is broken"),  # 1 of 2,
    ],
)
def test_trigger_does_not_match(trigger: str, text: str) -> None:
    assert not trigger_matches(trigger, text)


def test_content_words_drop_stop_words_case_and_plural_s() -> None:
    assert content_words("When working on the Billing Services") == {"billing", "service"}
    assert content_words("the class of the process") == {"class", "process"}
    assert content_words("don't touch it") == {"touch"}


@pytest.mark.parametrize(
    ("pinned", "repos", "applies"),
    [
        (None, [], True),
        ("", ["acme/api"], True),
        ("all", [], True),
        ("*", ["acme/api"], True),
        ("ALL", [], True),
        ("acme/api", ["acme/api"], True),
        ("acme/api", ["https://github.com/Acme/API.git"], True),
        ("acme/api", ["git@github.com:acme/api.git", "acme/web"], True),
        ("acme/api", ["acme/web"], False),
        ("acme/api", [], False),
        ("acme/api", ["other/api"], False),
    ],
)
def test_pin_applies(pinned: str | None, repos: list[str], applies: bool) -> None:
    assert pin_applies(pinned, repos) is applies


async def test_matching_notes_applies_enabled_pinned_and_trigger_rules(api: ApiEnv) -> None:
    knowledge = api.services.knowledge
    org = api.org_id
    folder = await knowledge.create_folder(org, "Teams")
    billing = await knowledge.create(org, NoteSpec("Billing", "Round half-even.", BILLING, folder_id=folder.folder_id))
    disabled = await knowledge.create(org, NoteSpec("Old billing", "Obsolete.", BILLING, is_enabled=False))
    pinned_here = await knowledge.create(org, NoteSpec("Here", "Use make.", "billing", pinned_repo="acme/billing"))
    await knowledge.create(org, NoteSpec("Elsewhere", "Use npm.", "billing", pinned_repo="acme/web"))
    everywhere = await knowledge.create(org, NoteSpec("Everywhere", "Be kind.", "billing", pinned_repo="*"))
    await knowledge.create(org, NoteSpec("Docs", "Use Sphinx.", "when writing documentation"))
    other_org, _ = await api.new_org()
    await knowledge.create(other_org, NoteSpec("Foreign", "Secret sauce.", BILLING))

    prompt = "fix the invoice rounding bug in the billing service"
    found = await knowledge.matching_notes(org, prompt, ["https://github.com/acme/billing.git"], None)

    assert [n.note_id for n in found] == [billing.note_id, pinned_here.note_id, everywhere.note_id]
    assert found[0].folder_path == "Teams"
    assert disabled.note_id not in {n.note_id for n in found}
    assert await knowledge.matching_notes(org, "write docs", [], None) == []


async def test_matching_notes_with_knowledge_ids(api: ApiEnv) -> None:
    knowledge = api.services.knowledge
    org = api.org_id
    billing = await knowledge.create(org, NoteSpec("Billing", "b", BILLING))
    unrelated = await knowledge.create(org, NoteSpec("Docs", "d", "documentation", is_enabled=False))
    pinned = await knowledge.create(org, NoteSpec("Pinned", "p", "anything", pinned_repo="acme/elsewhere"))
    other_org, _ = await api.new_org()
    foreign = await knowledge.create(other_org, NoteSpec("Foreign", "f", BILLING))
    prompt = "fix the billing service"

    assert await knowledge.matching_notes(org, prompt, [], []) == []
    explicit = await knowledge.matching_notes(org, prompt, [], [unrelated.note_id, pinned.note_id])
    assert [n.note_id for n in explicit] == [unrelated.note_id, pinned.note_id]
    mixed = await knowledge.matching_notes(org, prompt, [], [billing.note_id, foreign.note_id, "note-missing"])
    assert [n.note_id for n in mixed] == [billing.note_id]
