"""Which knowledge notes a session's agent is given: stemmed, ranked matching, pins, the index, ``knowledge_ids``."""

import pytest

from codeyard.services.knowledge import NoteSpec, pin_applies, trigger_matches
from codeyard.services.relevance import Corpus, coverage, terms
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
        # word forms: the trigger and the task say the same thing differently
        ("When analyzing CSV data files", "Analyze the CSV data in sales.csv"),
        ("analyze logs", "analyzing the nginx logs"),
        ("when editing files", "edit the file config.yaml"),
        ("deployment", "deploy the app to staging"),
        ("deploy", "deployment notes"),
        ("when deploying services", "the deployment of the billing service failed"),
        ("migrations", "write a migration for the users table"),
    ],
)
def test_trigger_matches(trigger: str, text: str) -> None:
    assert trigger_matches(trigger, text)


@pytest.mark.parametrize(
    ("trigger", "text"),
    [
        (BILLING, "write docs"),
        (BILLING, "rebill the service"),  # one of two words, and "rebill" is not "billing"
        (BILLING, "billingservice is down"),  # whole words only
        (BILLING, ""),
        ("deploy", "redeploy the app"),
        ("database migration scripts postgres", "write a postgres migration"),  # 2 of 4 is not more than half
        ("when it is", "when it is what it is"),  # only stop words: never matches
        ("when working on tasks", "work on the task"),  # framing words in any form carry no meaning
        ("", "anything at all"),
        ("class loader", "the class is broken"),  # 1 of 2
        ("When analyzing CSV data files", "Write a poem about the sea"),
        ("when deploying to production", "analyze the csv files"),
    ],
)
def test_trigger_does_not_match(trigger: str, text: str) -> None:
    assert not trigger_matches(trigger, text)


def test_terms_are_stemmed_content_words() -> None:
    assert terms("When working on the Billing Services") == ["bill", "servic"]
    assert terms("analyzing analyze analyzed") == ["analyz"] * 3
    assert terms("deployment deploy deploying files file") == ["deploy"] * 3 + ["file"] * 2
    assert terms("don't touch it") == ["touch"]


def test_rare_words_weigh_more_than_words_every_note_shares() -> None:
    corpus = Corpus([terms("python style"), terms("python tests"), terms("python packaging"), terms("rust style")])
    found = corpus.rank(terms("fix the packaging of the python project"))
    assert [m.index for m in found][:1] == [2]
    packaging = next(m for m in found if m.index == 2)
    python_only = next(m for m in found if m.index == 0)
    assert packaging.coverage == pytest.approx(1.0)
    assert 0 < python_only.coverage < 0.5  # "python" is in three notes of four: it says little
    assert coverage("", "anything") == 0.0


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
    assert await knowledge.matching_notes(org, "write a poem", [], None) == []
    assert [n.name for n in await knowledge.matching_notes(org, "update the docs", [], None)] == ["Docs"]  # by name


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


async def test_word_forms_rank_the_right_notes_in_full_and_index_the_rest(api: ApiEnv) -> None:
    knowledge = api.services.knowledge
    org = api.org_id
    csv = await knowledge.create(org, NoteSpec("CSV conventions", "CSV-BODY", "When analyzing CSV data files"))
    deploy = await knowledge.create(org, NoteSpec("Releases", "DEPLOY-BODY", "deployment to production"))
    poems = await knowledge.create(org, NoteSpec("Poetry", "POEM-BODY", "when writing poems or song lyrics"))
    await knowledge.create(org, NoteSpec("Old", "OLD-BODY", "When analyzing CSV data files", is_enabled=False))
    pinned = await knowledge.create(org, NoteSpec("Web", "WEB-BODY", "analyze csv", pinned_repo="acme/web"))

    notes = await knowledge.session_notes(org, "Analyze the CSV data in sales.csv", ["acme/api"], None)

    assert [n.note_id for n in notes.given] == [csv.note_id]
    assert [n.note_id for n in notes.index] == [deploy.note_id, poems.note_id]  # enabled, pin applies, not given
    both = await knowledge.session_notes(org, "analyze the csv files, then deploy to production", ["acme/web"], None)
    assert {n.note_id for n in both.given} == {csv.note_id, deploy.note_id, pinned.note_id}
    assert poems.note_id not in {n.note_id for n in both.given}
    assert [n.note_id for n in (await knowledge.session_notes(org, "deploy", [], None, limit=0)).given] == []
    strict = await knowledge.session_notes(org, "analyze the csv", [], None, threshold=0.9)
    assert strict.given == []  # 2 of 4 words
    repo_named = await knowledge.session_notes(org, "fix the flaky test", ["https://github.com/acme/poems.git"], None)
    assert poems.note_id not in {n.note_id for n in repo_named.given}  # "poems" alone is 1 of 4 words
    assert (await knowledge.session_notes(org, "deploy", [], [])).index == []


async def test_recall_opens_a_note_by_id_name_or_words_within_the_pins(api: ApiEnv) -> None:
    knowledge = api.services.knowledge
    org = api.org_id
    deploy = await knowledge.create(org, NoteSpec("Release checklist", "R", "when deploying services to production"))
    await knowledge.create(org, NoteSpec("Style", "S", "when writing python code"))
    hidden = await knowledge.create(org, NoteSpec("Web deploys", "W", "deployment of the web", pinned_repo="acme/web"))
    off = await knowledge.create(org, NoteSpec("Off", "O", "deployment", is_enabled=False))
    other_org, _ = await api.new_org()
    foreign = await knowledge.create(other_org, NoteSpec("Foreign", "F", "deployment"))

    assert [n.note_id for n in await knowledge.recall(org, deploy.note_id, [])] == [deploy.note_id]
    assert [n.note_id for n in await knowledge.recall(org, "release CHECKLIST", [])] == [deploy.note_id]
    assert [n.note_id for n in await knowledge.recall(org, "a deployment", [])] == [deploy.note_id]
    assert [n.note_id for n in await knowledge.recall(org, "a deployment", ["acme/web"])] == [
        hidden.note_id,
        deploy.note_id,
    ]
    assert await knowledge.recall(org, off.note_id, []) == []
    assert await knowledge.recall(org, foreign.note_id, []) == []
    assert await knowledge.recall(org, "gardening", []) == []
