"""What the agent's ``recall_knowledge`` tool reads: the team's knowledge notes, through the runner (contract §5).

The system prompt gives the notes that matched the task in full and lists every other one by name and trigger;
the tool opens any of them later in the session, by id, by name or by describing what is needed.
"""

from dataclasses import dataclass
from typing import Protocol

MAX_NOTE_CHARS = 20_000
"""Most characters of one note's body a recall returns."""


@dataclass(frozen=True)
class RecalledNote:
    note_id: str
    name: str
    trigger: str
    body: str


class KnowledgeSource(Protocol):
    async def recall(self, request: str) -> list[RecalledNote]:
        """The notes ``request`` names (an id or a name) or, failing that, the best ones for its words."""
        ...


def shown(note: RecalledNote) -> str:
    body = note.body
    if len(body) > MAX_NOTE_CHARS:
        body = body[:MAX_NOTE_CHARS] + f"\n[… note cut: {len(note.body) - MAX_NOTE_CHARS} more characters …]"
    return f"## {note.name} ({note.note_id})\nWhen: {note.trigger}\n\n{body}"
