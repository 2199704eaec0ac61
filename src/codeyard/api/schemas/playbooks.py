"""Playbook schemas (devin-api-reference §7): the reference's ``{title, body}`` and the common-flows page's
``{name, instructions}`` are both accepted, and responses carry both spellings."""

from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, Field, StringConstraints

from codeyard.api.schemas.common import Request
from codeyard.services.playbooks import MACRO_FORMAT, MACRO_RULE

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Instructions = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
"""Playbooks and notes go into the agent's system prompt whole, so they are capped well below the body limit."""


def blank_as_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _valid_macro(value: str) -> str:
    if not MACRO_FORMAT.fullmatch(value):
        raise ValueError(MACRO_RULE)
    return value


Macro = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_valid_macro),
    Field(description=MACRO_RULE, examples=["!deploy"]),
]
OptionalMacro = Annotated[Macro | None, BeforeValidator(blank_as_none)]
"""A macro, or nothing: ``null`` and ``""`` both mean "no macro"."""


class PlaybookWrite(Request):
    """Create (POST) and full replace (PUT)."""

    title: Annotated[Title, Field(validation_alias=AliasChoices("title", "name"))]
    body: Annotated[Instructions, Field(validation_alias=AliasChoices("body", "instructions"))]
    macro: OptionalMacro = None


class PlaybookResponse(BaseModel):
    playbook_id: str
    title: str
    name: str
    """``title`` again, for clients written against the common-flows page."""
    body: str
    instructions: str
    """``body`` again, for clients written against the common-flows page."""
    macro: str | None = None
    access_type: str
    org_id: str | None = None
    """``null`` for an enterprise-wide playbook (``access_type`` ``enterprise``)."""
    created_at: int
    updated_at: int
    created_by: str | None = None
    updated_by: str | None = None
