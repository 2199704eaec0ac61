"""The system prompt of a session: how to work, the repos and files, the playbook and the matching notes."""

from dataclasses import dataclass, field
from pathlib import Path

from codeyard.errors import NotFoundError
from codeyard.services.container import Services
from codeyard.services.events import Category
from codeyard.services.runs import EventSpec
from codeyard.storage.tables import AgentSessionRow

BASE = """You are an autonomous software engineer working in a sandboxed workspace on the user's task.
Work step by step with the tools: run commands, read and edit files, run the tests. Keep going until the task
is done; then reply with a short summary of what you did and what you found, without calling a tool.
Files the user sends (also later, with a message) are placed under attachments/ in the workspace.
If you need a decision or information only the user has, call ask_user and stop. Use message_user for
progress updates that need no answer. Never print secrets; they are in environment variables when provided."""


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
) -> Context:
    parts = [BASE, f"\nThe workspace is {workspace_view}; commands start there."]
    events: list[EventSpec] = []
    if repos:
        parts.append("\nRepositories (cloned for you):")
        parts += [f"- {entry} → {path.relative_to(root)}/" for entry, path in repos.items()]
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
            playbook = await services.playbooks.get(row.org_id, row.playbook_id)
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
    notes = await services.knowledge.matching_notes(row.org_id, row.prompt, list(row.repos), row.knowledge_ids)
    if notes:
        parts.append("\n## Knowledge\nNotes from the team that apply to this task:")
        for note in notes:
            parts.append(f"\n### {note.name}\n{note.body}")
            events.append(
                EventSpec(
                    "knowledge_used",
                    Category.KNOWLEDGE,
                    f"note {note.name}",
                    {"note_id": note.note_id, "name": note.name},
                )
            )
    if row.structured_output_schema is not None:
        parts.append(
            "\nThis session has a structured output schema: submit the result with "
            "submit_structured_output before you finish."
        )
    return Context("\n".join(parts), events)
