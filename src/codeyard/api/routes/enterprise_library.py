"""Enterprise-wide knowledge notes and playbooks (devin-api-reference §6, §7): ``/v3/enterprise/knowledge/notes…``
and ``/v3/enterprise/playbooks…`` for an enterprise admin.

A note or playbook created here is enterprise-wide (``access_type: enterprise``, ``org_id: null``): every
organization's sessions use it beside their org's own (an org playbook's macro wins over an enterprise one). The
lists are the enterprise view of both kinds (``?access_type=enterprise|org`` narrows), and a note or playbook of any
org can be read, replaced and deleted here by its id, with the org routes' shapes.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from codeyard.api.deps import Caller, ServicesDep, require
from codeyard.api.routes.knowledge import Filter, note_response, note_spec
from codeyard.api.routes.playbooks import playbook_response, playbook_spec
from codeyard.api.schemas.common import First, Paginated
from codeyard.api.schemas.knowledge import KnowledgeNoteResponse, NoteWrite
from codeyard.api.schemas.playbooks import PlaybookResponse, PlaybookWrite
from codeyard.domain.ids import ENTERPRISE_SCOPE
from codeyard.services.principal import Permission

router = APIRouter(
    prefix="/v3/enterprise", tags=["enterprise-knowledge"], dependencies=[require(Permission.MANAGE_ORGANIZATIONS)]
)
AccessType = Annotated[Literal["enterprise", "org"] | None, Query()]


@router.get("/knowledge/notes", response_model=Paginated[KnowledgeNoteResponse])
async def list_enterprise_notes(
    services: ServicesDep,
    after: str | None = None,
    first: First = 100,
    search: Filter = None,
    folder_path: Filter = None,
    pinned_repo: Filter = None,
    access_type: AccessType = None,
) -> Paginated[KnowledgeNoteResponse]:
    page = await services.knowledge.list_notes(
        None,
        after=after,
        first=first,
        search=search,
        folder_path=folder_path,
        pinned_repo=pinned_repo,
        access_type=access_type,
    )
    return Paginated(
        items=[note_response(n) for n in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.post("/knowledge/notes", response_model=KnowledgeNoteResponse)
async def create_enterprise_note(body: NoteWrite, services: ServicesDep) -> KnowledgeNoteResponse:
    return note_response(await services.knowledge.create(ENTERPRISE_SCOPE, note_spec(body)))


@router.get("/knowledge/notes/{note_id}", response_model=KnowledgeNoteResponse)
async def get_enterprise_note(note_id: str, services: ServicesDep) -> KnowledgeNoteResponse:
    return note_response(await services.knowledge.get(None, note_id))


@router.put("/knowledge/notes/{note_id}", response_model=KnowledgeNoteResponse)
async def replace_enterprise_note(note_id: str, body: NoteWrite, services: ServicesDep) -> KnowledgeNoteResponse:
    return note_response(await services.knowledge.replace(None, note_id, note_spec(body)))


@router.delete("/knowledge/notes/{note_id}", response_model=KnowledgeNoteResponse)
async def delete_enterprise_note(note_id: str, services: ServicesDep) -> KnowledgeNoteResponse:
    return note_response(await services.knowledge.delete(None, note_id))


@router.get("/playbooks", response_model=Paginated[PlaybookResponse])
async def list_enterprise_playbooks(
    services: ServicesDep, after: str | None = None, first: First = 100, access_type: AccessType = None
) -> Paginated[PlaybookResponse]:
    page = await services.playbooks.list_playbooks(None, after=after, first=first, access_type=access_type)
    return Paginated(
        items=[playbook_response(p) for p in page.items],
        end_cursor=page.end_cursor,
        has_next_page=page.has_next_page,
        total=page.total,
    )


@router.post("/playbooks", response_model=PlaybookResponse)
async def create_enterprise_playbook(body: PlaybookWrite, caller: Caller, services: ServicesDep) -> PlaybookResponse:
    return playbook_response(
        await services.playbooks.create(caller.service_user_id, ENTERPRISE_SCOPE, playbook_spec(body))
    )


@router.get("/playbooks/{playbook_id}", response_model=PlaybookResponse)
async def get_enterprise_playbook(playbook_id: str, services: ServicesDep) -> PlaybookResponse:
    return playbook_response(await services.playbooks.get(None, playbook_id))


@router.put("/playbooks/{playbook_id}", response_model=PlaybookResponse)
async def replace_enterprise_playbook(
    playbook_id: str, body: PlaybookWrite, caller: Caller, services: ServicesDep
) -> PlaybookResponse:
    row = await services.playbooks.replace(caller.service_user_id, None, playbook_id, playbook_spec(body))
    return playbook_response(row)


@router.delete("/playbooks/{playbook_id}", response_model=PlaybookResponse)
async def delete_enterprise_playbook(playbook_id: str, services: ServicesDep) -> PlaybookResponse:
    return playbook_response(await services.playbooks.delete(None, playbook_id))
