"""Knowledge schemas (devin-api-reference §6): notes, with the v1 spellings ``trigger_description`` and
``parent_folder_id`` accepted as aliases, and folders."""

from typing import Annotated

from pydantic import AliasChoices, BaseModel, BeforeValidator, Field, StringConstraints, field_validator

from codeyard.api.schemas.common import Identifier, Request
from codeyard.api.schemas.playbooks import Instructions, OptionalMacro, Title, blank_as_none

Trigger = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
PinnedRepo = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=512)] | None,
    BeforeValidator(blank_as_none),
    Field(description="`owner/repo`; `all`, `*` or nothing mean every repository."),
]
FolderName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class NoteWrite(Request):
    """Create (POST) and full replace (PUT): omitted optional fields take their defaults."""

    name: Title
    body: Instructions
    trigger: Annotated[Trigger, Field(validation_alias=AliasChoices("trigger", "trigger_description"))]
    folder_id: Annotated[Identifier | None, Field(validation_alias=AliasChoices("folder_id", "parent_folder_id"))] = (
        None
    )
    is_enabled: bool | None = None
    """``null`` or absent mean enabled."""
    pinned_repo: PinnedRepo = None
    macro: OptionalMacro = None


class KnowledgeNoteResponse(BaseModel):
    note_id: str
    name: str
    body: str
    trigger: str
    folder_id: str | None = None
    folder_path: str = ""
    """The folder's names from the root joined by ``/``; ``""`` for a note at the root."""
    is_enabled: bool
    pinned_repo: str | None = None
    access_type: str
    macro: str | None = None
    org_id: str | None = None
    """``null`` for an enterprise-wide note (``access_type`` ``enterprise``)."""
    created_at: int
    updated_at: int


class FolderCreate(Request):
    name: FolderName
    parent_folder_id: Identifier | None = None

    @field_validator("name")
    @classmethod
    def _no_separator(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("a folder name must not contain '/', which joins the names of a folder path")
        return value


class KnowledgeFolderResponse(BaseModel):
    folder_id: str
    name: str
    note_count: int
    """Notes directly in this folder."""
    parent_folder_id: str | None = None
    path: str


class KnowledgeFoldersResponse(BaseModel):
    folders: list[KnowledgeFolderResponse]
    root_note_count: int
