"""SDK names the CLI needs before it connects (its option types, the not-given marker): nothing here imports
httpx2 or pydantic, so `codeyard --help` loads neither."""

from typing import Literal

GitKind = Literal["github", "gitlab", "gitea", "generic"]
"""The forge of a git connection, for pull requests."""


class NotGiven:
    """Marks a parameter the caller did not pass, where `None` is a meaningful value (it sends JSON null)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()
