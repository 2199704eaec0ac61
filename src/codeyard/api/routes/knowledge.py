"""``/v3/organizations/{org_id}/knowledge/…`` (devin-api-reference §6; contract §7)."""

from typing import Annotated

from fastapi import APIRouter, Query

from codeyard.api.deps import OrgId, ServicesDep, require
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.knowledge import (
    FolderCreate,
    KnowledgeFolderResponse,
    KnowledgeFoldersResponse,
    KnowledgeNoteResponse,
    NoteWrite,
)
from codeyard.domain.ids import ENTERPRISE_SCOPE
from codeyard.services.knowledge import Folder, Note, NoteSpec
from codeyard.services.principal import Permission

router = APIRouter(tags=["knowledge"])
READ = [require(Permission.READ_KNOWLEDGE)]
MANAGE = [require(Permission.MANAGE_KNOWLEDGE)]
Filter = Annotated[str | None, Query(max_length=1000)]


def note_response(note: Note) -> KnowledgeNoteResponse:
    return KnowledgeNoteResponse(
        note_id=note.note_id,
        name=note.name,
        body=note.body,
        trigger=note.trigger,
        folder_id=note.folder_id,
        folder_path=note.folder_path or "",
        is_enabled=note.is_enabled,
        pinned_repo=note.pinned_repo,
        access_type=note.access_type,
        macro=note.macro,
        org_id=None if note.org_id == ENTERPRISE_SCOPE else note.org_id,
        created_at=int(note.created_at),
        updated_at=int(note.updated_at),
    )


def folder_response(folder: Folder) -> KnowledgeFolderResponse:
    return KnowledgeFolderResponse(
        folder_id=folder.folder_id,
        name=folder.name,
        note_count=folder.note_count,
        parent_folder_id=folder.parent_folder_id,
        path=folder.path,
    )


def note_spec(body: NoteWrite) -> NoteSpec:
    return NoteSpec(
        name=body.name,
        body=body.body,
        trigger=body.trigger,
        folder_id=body.folder_id,
        is_enabled=True if body.is_enabled is None else body.is_enabled,
        pinned_repo=body.pinned_repo,
        macro=body.macro,
    )


@router.get("/knowledge/notes", response_model=Paginated[KnowledgeNoteResponse], dependencies=READ)
async def list_notes(
    org: OrgId,
    services: ServicesDep,
    after: str | None = None,
    first: First = 100,
    search: Filter = None,
    folder_path: Filter = None,
    pinned_repo: Filter = None,
) -> Paginated[KnowledgeNoteResponse]:
    page = await services.knowledge.list_notes(
        org, after=after, first=first, search=search, folder_path=folder_path, pinned_repo=pinned_repo
    )
    return Paginated(
        items=[note_response(n) for n in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.post("/knowledge/notes", response_model=KnowledgeNoteResponse, dependencies=MANAGE)
async def create_note(body: NoteWrite, org: OrgId, services: ServicesDep) -> KnowledgeNoteResponse:
    return note_response(await services.knowledge.create(org, note_spec(body)))


@router.get("/knowledge/notes/{note_id}", response_model=KnowledgeNoteResponse, dependencies=READ)
async def get_note(note_id: str, org: OrgId, services: ServicesDep) -> KnowledgeNoteResponse:
    return note_response(await services.knowledge.get(org, note_id))


@router.put("/knowledge/notes/{note_id}", response_model=KnowledgeNoteResponse, dependencies=MANAGE)
async def replace_note(note_id: str, body: NoteWrite, org: OrgId, services: ServicesDep) -> KnowledgeNoteResponse:
    return note_response(await services.knowledge.replace(org, note_id, note_spec(body)))


@router.delete("/knowledge/notes/{note_id}", response_model=KnowledgeNoteResponse, dependencies=MANAGE)
async def delete_note(note_id: str, org: OrgId, services: ServicesDep) -> KnowledgeNoteResponse:
    return note_response(await services.knowledge.delete(org, note_id))


@router.get("/knowledge/folders", response_model=KnowledgeFoldersResponse, dependencies=READ)
async def list_folders(org: OrgId, services: ServicesDep) -> KnowledgeFoldersResponse:
    tree = await services.knowledge.folders(org)
    return KnowledgeFoldersResponse(
        folders=[folder_response(f) for f in tree.folders], root_note_count=tree.root_note_count
    )


@router.post("/knowledge/folders", response_model=KnowledgeFolderResponse, dependencies=MANAGE)
async def create_folder(body: FolderCreate, org: OrgId, services: ServicesDep) -> KnowledgeFolderResponse:
    return folder_response(await services.knowledge.create_folder(org, body.name, body.parent_folder_id))
