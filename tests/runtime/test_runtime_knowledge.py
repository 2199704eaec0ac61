"""Knowledge in a real session (contract §5): notes matched across word forms, the index, a note recalled
mid-session with ``recall_knowledge``, and the repositories' own instruction files, read without following
symlinks."""

import subprocess
from pathlib import Path
from typing import Any

from codeyard.sdk import Client
from tests.fakes.model_server import FakeModelServer, Step
from tests.runtime.conftest import git, settled, wait_for


def conversation(model: FakeModelServer, match: str) -> list[dict[str, Any]]:
    """The messages of the last request of the conversation whose task contains ``match``."""
    found: list[dict[str, Any]] = []
    for request in model.requests_to("/v1/chat/completions"):
        messages = request.body["messages"]
        if any(m["role"] == "user" and match in str(m.get("content")) for m in messages):
            found = messages
    return found


def test_notes_match_across_word_forms_and_one_is_recalled_mid_session(
    client: Client, model_server: FakeModelServer
) -> None:
    csv = client.knowledge.notes.create(
        name="CSV conventions", body="CSV-NOTE-BODY: dates are ISO.", trigger="When analyzing CSV data files"
    )
    deploy = client.knowledge.notes.create(
        name="Release process", body="DEPLOY-NOTE-BODY: tag first.", trigger="deployment to production"
    )
    poems = client.knowledge.notes.create(
        name="Poetry", body="POEM-NOTE-BODY: rhyme.", trigger="when writing poems or song lyrics"
    )
    model_server.add_script(
        "TASK-RECALL",
        [
            Step.tool("recall_knowledge", {"note": "Release process"}),
            Step.tool("recall_knowledge", {"note": "gardening tips"}),
            Step.text("analyzed"),
        ],
    )
    session = client.sessions.create(prompt="TASK-RECALL Analyze the CSV data in sales.csv")
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")

    messages = conversation(model_server, "TASK-RECALL")
    system = str(messages[0]["content"])
    assert "CSV-NOTE-BODY" in system  # "analyzing … files" matched "Analyze … data"
    assert "DEPLOY-NOTE-BODY" not in system and "POEM-NOTE-BODY" not in system
    assert f"- Release process ({deploy.note_id}): deployment to production" in system  # in the index
    assert f"- Poetry ({poems.note_id})" in system
    results = [str(m["content"]) for m in messages if m["role"] == "tool"]
    assert "DEPLOY-NOTE-BODY: tag first." in results[0] and "POEM-NOTE-BODY" not in results[0]
    assert results[1] == "no note of the team's knowledge matches 'gardening tips'"
    tools = {tool["function"]["name"] for tool in model_server.requests_to("/v1/chat/completions")[-1].body["tools"]}
    assert "recall_knowledge" in tools

    events = client.sessions.events(session.session_id, categories=["knowledge"]).items
    used = [(e.event_type, e.summary) for e in events]
    assert used == [
        ("knowledge_used", "note CSV conventions"),
        ("knowledge_used", "note Release process (recalled)"),
    ]
    for note in (csv, deploy, poems):
        client.knowledge.notes.delete(note.note_id)


def test_without_the_index_there_is_no_recall_tool(client: Client, model_server: FakeModelServer) -> None:
    note = client.knowledge.notes.create(name="Chosen", body="CHOSEN-BODY", trigger="nothing in common")
    model_server.add_script("TASK-CHOSEN", [Step.tool("recall_knowledge", {"note": "Chosen"}), Step.text("ok")])
    session = client.sessions.create(prompt="TASK-CHOSEN do it", knowledge_ids=[note.note_id])
    wait_for(client, session.session_id, settled)
    messages = conversation(model_server, "TASK-CHOSEN")
    assert "CHOSEN-BODY" in str(messages[0]["content"]) and "Knowledge index" not in str(messages[0]["content"])
    assert [m["content"] for m in messages if m["role"] == "tool"] == [
        "error: there is no tool named 'recall_knowledge'"
    ]
    client.knowledge.notes.delete(note.note_id)


def test_repository_instruction_files_are_given_without_following_symlinks(
    client: Client, model_server: FakeModelServer, tmp_path: Path
) -> None:
    outside = tmp_path / "host"
    (outside / "evil").mkdir(parents=True)
    (outside / "secret.txt").write_text("HOST-SECRET-LINE\n")
    (outside / "evil" / "style.md").write_text("HOST-DEVIN-LINE\n")
    repo = tmp_path / "guided"
    (repo / ".github").mkdir(parents=True)
    (repo / "AGENTS.md").write_text("AGENTS-RULE: run make check.\n")
    (repo / ".github" / "copilot-instructions.md").write_text("COPILOT-RULE: tabs.\n")
    (repo / ".cursorrules").write_text("CURSOR-START\n" + "x" * 40_000 + "\nCURSOR-END\n")
    (repo / "CLAUDE.md").symlink_to(outside / "secret.txt")
    (repo / ".devin").symlink_to(outside / "evil")
    other = tmp_path / "second"
    (other / ".devin").mkdir(parents=True)
    (other / ".devin" / "b.md").write_text("DEVIN-B\n")
    (other / ".devin" / "a.md").write_text("DEVIN-A\n")
    (other / ".devin" / "notes.txt").write_text("NOT-MARKDOWN\n")
    for path in (repo, other):
        git(path, "init", "-q", "-b", "main")
        git(path, "add", ".")
        git(path, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-qm", "init")
    assert subprocess.run(["git", "ls-files", "-s", "CLAUDE.md"], cwd=repo, capture_output=True, text=True).stdout
    model_server.add_script("TASK-GUIDED", [Step.text("read them")])
    session = client.sessions.create(prompt="TASK-GUIDED follow the rules", repos=[str(repo), str(other)])
    done = wait_for(client, session.session_id, settled)
    assert (done.status, done.status_detail) == ("exit", "finished")

    system = str(conversation(model_server, "TASK-GUIDED")[0]["content"])
    assert "### guided/AGENTS.md\nAGENTS-RULE: run make check." in system
    assert "### guided/.github/copilot-instructions.md\nCOPILOT-RULE: tabs." in system
    assert "CURSOR-START" in system and "CURSOR-END" not in system
    assert "the rest of this file was cut" in system
    assert "HOST-SECRET-LINE" not in system and "HOST-DEVIN-LINE" not in system
    assert system.index("DEVIN-A") < system.index("DEVIN-B") and "NOT-MARKDOWN" not in system
    events = client.sessions.events(session.session_id, categories=["knowledge"]).items
    assert [e.summary for e in events] == [
        "instructions guided/AGENTS.md",
        "instructions guided/.github/copilot-instructions.md",
        "instructions guided/.cursorrules",
        "instructions second/.devin/a.md",
        "instructions second/.devin/b.md",
    ]
