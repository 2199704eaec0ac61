"""Git connection and hand-back schemas (contract §10). The token is write-only: no response model has it."""

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints, WithJsonSchema

from codeyard.api.schemas.common import Request

GitKind = Literal["github", "gitlab", "gitea", "generic"]
_TOKEN_SCHEMA = WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 4096, "writeOnly": True})
Host = Annotated[str, StringConstraints(min_length=1, max_length=300)]
ApiUrl = Annotated[str, StringConstraints(max_length=1024)]
Username = Annotated[str, StringConstraints(max_length=255)]


class GitConnectionCreate(Request):
    host: Host
    kind: GitKind = "generic"
    api_url: ApiUrl | None = None
    username: Username | None = None
    token: Annotated[object, _TOKEN_SCHEMA]
    """Checked by the service (``check_token``), not here: a schema error would echo the token in the 422."""


class GitConnectionUpdate(Request):
    host: Host | None = None
    kind: GitKind | None = None
    api_url: ApiUrl | None = None
    username: Username | None = None
    token: Annotated[object, _TOKEN_SCHEMA] = None


class GitConnectionResponse(BaseModel):
    connection_id: str
    host: str
    kind: str
    api_url: str | None = None
    username: str | None = None
    created_at: int
    updated_at: int
    created_by: str | None = None


class CommitItem(BaseModel):
    sha: str
    subject: str


class Diffstat(BaseModel):
    files_changed: int
    insertions: int
    deletions: int


class RepoChanges(BaseModel):
    index: int
    """The number to use in ``…/changes/{index}.bundle`` and ``.patch``."""
    repo: str
    directory: str
    base_sha: str
    head_sha: str
    commits: list[CommitItem]
    diffstat: Diffstat
    uncommitted: bool
    """Whether ``….patch`` has uncommitted work."""


class ChangesResponse(BaseModel):
    items: list[RepoChanges]
    total: int
