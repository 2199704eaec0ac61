"""The system prompt of a session: how to work, the repos and files, the repos' own instructions, the playbook,
the matching notes in full and an index of the others."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from codeyard.errors import NotFoundError
from codeyard.runner.instructions import InstructionFile
from codeyard.services.container import Services
from codeyard.services.events import Category
from codeyard.services.knowledge import Note
from codeyard.services.runs import EventSpec
from codeyard.storage.tables import AgentSessionRow

BASE = """You are an autonomous software engineer working in a sandboxed workspace on the user's task.
Work step by step with the tools: run commands, read and edit files, run the tests. Keep going until the task
is done; then reply with a short summary of what you did and what you found, without calling a tool.
Files the user sends (also later, with a message) are placed under attachments/ in the workspace.
If you need a decision or information only the user has, call ask_user and stop. Use message_user for
progress updates that need no answer. Never print secrets; they are in environment variables when provided."""


MAX_INDEX = 200
"""Most notes listed by name in the knowledge index; the agent finds the others by describing what it needs."""
MAX_INDEX_TRIGGER = 200


@dataclass
class Context:
    system: str
    events: list[EventSpec] = field(default_factory=list)


async def build(
    row: AgentSessionRow,
    services: Services,
    workspace_view: str,
    repos: dict[str, Path],
    files: list[Path],
    root: Path,
    secret_names: list[str],
    extra: list[str],
    *,
    instructions: Sequence[InstructionFile] = (),
    handoff_repo: Path | None = None,
) -> Context:
    parts = [BASE, f"\nThe workspace is {workspace_view}; commands start there."]
    events: list[EventSpec] = []
    if repos:
        parts.append("\nRepositories (cloned for you):")
        parts += [f"- {entry} → {path.relative_to(root)}/" for entry, path in repos.items()]
    if handoff_repo is not None:
        shown = f"{workspace_view.rstrip('/')}/{handoff_repo.relative_to(root).as_posix()}"
        parts.append(
            f"\nThe user handed off their local work: the repository with their work tree is {shown}/ "
            "(commits, branch and uncommitted changes as on their machine); work there."
        )
    if files:
        parts.append("\nFiles the user provided:")
        parts += [f"- {path.relative_to(root)}" for path in files]
    if extra:
        parts.append("\nPrepared for you before you started:")
        parts += [f"- {line}" for line in extra]
    if secret_names:
        parts.append("\nSecrets available to commands as environment variables: " + ", ".join(sorted(secret_names)))
    playbook = None
    if row.playbook_id:
        try:
            playbook = await services.playbooks.usable(row.org_id, row.playbook_id)
        except NotFoundError:  # deleted after the session was created: work without it, and say so
            events.append(
                EventSpec(
                    "playbook_missing",
                    Category.PLAYBOOK,
                    f"playbook {row.playbook_id} no longer exists; working without it",
                )
            )
    if playbook is not None:
        parts.append(f"\n## Playbook: {playbook.title}\nFollow this playbook:\n{playbook.body}")
        events.append(
            EventSpec(
                "playbook_used",
                Category.PLAYBOOK,
                f"playbook {playbook.title}",
                {"playbook_id": playbook.id, "title": playbook.title},
            )
        )
    if instructions:
        parts.append("\n## Instructions from the repositories\nThe repositories' own instructions for agents:")
        for file in instructions:
            cut = "\n[… the rest of this file was cut: read it in the workspace …]" if file.cut else ""
            parts.append(f"\n### {file.path}\n{file.text}{cut}")
            events.append(
                EventSpec(
                    "repo_instructions_used", Category.KNOWLEDGE, f"instructions {file.path}", {"path": file.path}
                )
            )
    notes = await services.knowledge.session_notes(
        row.org_id,
        row.prompt,
        list(row.repos),
        row.knowledge_ids,
        threshold=services.settings.knowledge_match_threshold,
        limit=services.settings.knowledge_max_notes,
    )
    if notes.given:
        parts.append("\n## Knowledge\nNotes from the team that apply to this task:")
        for note in notes.given:
            parts.append(f"\n### {note.name}\n{note.body}")
            events.append(
                EventSpec(
                    "knowledge_used",
                    Category.KNOWLEDGE,
                    f"note {note.name}",
                    {"note_id": note.note_id, "name": note.name},
                )
            )
    if notes.index:
        parts.append(_index(notes.index))
    if row.structured_output_schema is not None:
        parts.append(
            "\nThis session has a structured output schema: submit the result with "
            "submit_structured_output before you finish."
        )
    return Context("\n".join(parts), events)


def _index(notes: Sequence[Note]) -> str:
    lines = [
        "\n## Knowledge index\nOther notes of the team, not given above. When one becomes relevant, open it with "
        "recall_knowledge (its id or name); describe what you need to find notes by their content."
    ]
    for note in notes[:MAX_INDEX]:
        trigger = " ".join(note.trigger.split())
        if len(trigger) > MAX_INDEX_TRIGGER:
            trigger = trigger[:MAX_INDEX_TRIGGER] + "…"
        lines.append(f"- {' '.join(note.name.split())} ({note.note_id}): {trigger or '(no trigger)'}")
    if len(notes) > MAX_INDEX:
        lines.append(f"- … and {len(notes) - MAX_INDEX} more: find them with recall_knowledge.")
    return "\n".join(lines)
