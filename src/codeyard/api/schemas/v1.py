"""The v1 shapes (devin-api-reference §10; contract §11): what existing v1 clients send and read.

Timestamps are ISO-8601 strings here, unlike v3; the fields are the v1 names (``trigger_description``,
``parent_folder_id``, ``status_enum``, ``pull_request``).
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from codeyard.api.schemas.common import Identifier, Request, ShortText, Tag
from codeyard.api.schemas.sessions import SessionCreate

StatusEnum = Literal[
    "working",
    "blocked",
    "expired",
    "finished",
    "suspend_requested",
    "suspend_requested_frontend",
    "resume_requested",
    "resume_requested_frontend",
    "resumed",
]


class V1SessionCreate(SessionCreate):
    """``POST /v1/sessions``: the v3 create fields, plus ``idempotent``, ``snapshot_id`` and ``unlisted``."""

    idempotent: bool = False
    snapshot_id: ShortText | None = None
    unlisted: bool = False


class V1SessionCreated(BaseModel):
    session_id: str
    url: str
    is_new_session: bool | None = None
    """Present only when the request set ``idempotent``."""


class V1PullRequest(BaseModel):
    url: str


class V1Message(BaseModel):
    type: Literal["initial_user_message", "user_message", "devin_message"]
    message: str
    timestamp: str
    event_id: str
    origin: str | None = None
    username: str | None = None


class V1Session(BaseModel):
    session_id: str
    status: str
    """The v3 status (``running``, ``exit``, …); ``status_enum`` is the v1 enumeration."""
    status_enum: StatusEnum
    title: str | None = None
    created_at: str
    updated_at: str
    tags: list[str] = Field(default_factory=list)
    playbook_id: str | None = None
    snapshot_id: str | None = None
    pull_request: V1PullRequest | None = None
    requesting_user_email: str | None = None
    structured_output: Any | None = None
    url: str


class V1SessionDetail(V1Session):
    messages: list[V1Message] = Field(default_factory=list)


class V1SessionList(BaseModel):
    sessions: list[V1Session]


class V1MessageCreate(Request):
    message: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]


class V1Detail(BaseModel):
    detail: str


class V1TagsBody(Request):
    tags: Annotated[list[Tag], Field(max_length=50)]


class V1CreatedBy(BaseModel):
    id: str
    full_name: str | None = None
    image_url: str | None = None


class V1Note(BaseModel):
    id: str
    name: str
    body: str
    trigger_description: str
    parent_folder_id: str | None = None
    pinned_repo: str | None = None
    macro: str | None = None
    created_at: str
    created_by: V1CreatedBy | None = None


class V1Folder(BaseModel):
    id: str
    name: str
    description: str | None = None
    created_at: str | None = None


class V1Knowledge(BaseModel):
    knowledge: list[V1Note]
    folders: list[V1Folder]


class V1Secret(BaseModel):
    id: str
    type: str
    key: str
    created_at: str


class V1Deleted(BaseModel):
    message: str


class V1Playbook(BaseModel):
    playbook_id: str
    title: str
    body: str
    status: str = "published"
    access_type: str
    org_id: str
    macro: str | None = None
    created_by_user_id: str | None = None
    created_by_user_name: str | None = None
    updated_by_user_id: str | None = None
    updated_by_user_name: str | None = None
    created_at: str
    updated_at: str


V1OrgQuery = Annotated[Identifier | None, Field(description="For an enterprise key: the organization to act in.")]
