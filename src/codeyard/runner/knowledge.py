"""The agent's ``recall_knowledge`` over the knowledge service, for one session (contract §5)."""

from collections.abc import Sequence

from codeyard.agent.recall import RecalledNote
from codeyard.services.knowledge import Knowledge


class SessionKnowledge:
    """The notes one session may open: its org's enabled notes whose ``pinned_repo`` applies to its repos, read
    when the agent asks, so a note written or fixed during the session is found too."""

    def __init__(self, knowledge: Knowledge, org_id: str, repos: Sequence[str]) -> None:
        self.knowledge = knowledge
        self.org_id = org_id
        self.repos = list(repos)

    async def recall(self, request: str) -> list[RecalledNote]:
        notes = await self.knowledge.recall(self.org_id, request, self.repos)
        return [RecalledNote(n.note_id, n.name, n.trigger, n.body) for n in notes]
