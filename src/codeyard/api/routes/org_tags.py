"""An organization's allowed tags and default tag (devin-api-reference §9), managed by an enterprise admin."""

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from codeyard.api.deps import ServicesDep, require
from codeyard.api.schemas.common import Request, Tag
from codeyard.services.org_tags import AllowedTags
from codeyard.services.principal import Permission

router = APIRouter(
    prefix="/v3/enterprise/organizations/{org_id}/tags",
    tags=["organizations"],
    dependencies=[require(Permission.MANAGE_ORGANIZATIONS)],
)


class TagsBody(Request):
    tags: Annotated[list[Tag], Field(max_length=1000)]


class DefaultTagBody(Request):
    tag: Tag


class OrgTagsResponse(BaseModel):
    tags: list[str]
    default_tag: str | None = None


class DefaultTagResponse(BaseModel):
    default_tag: str | None = None


def _response(allowed: AllowedTags) -> OrgTagsResponse:
    return OrgTagsResponse(tags=allowed.tags, default_tag=allowed.default_tag)


@router.get("", response_model=OrgTagsResponse)
async def get_org_tags(org_id: str, services: ServicesDep) -> OrgTagsResponse:
    return _response(await services.org_tags.get(org_id))


@router.put("", response_model=OrgTagsResponse)
async def replace_org_tags(org_id: str, body: TagsBody, services: ServicesDep) -> OrgTagsResponse:
    return _response(await services.org_tags.replace(org_id, body.tags))


@router.post("", response_model=OrgTagsResponse)
async def add_org_tags(org_id: str, body: TagsBody, services: ServicesDep) -> OrgTagsResponse:
    return _response(await services.org_tags.add(org_id, body.tags))


@router.delete("", response_model=OrgTagsResponse)
async def delete_org_tags(org_id: str, services: ServicesDep) -> OrgTagsResponse:
    return _response(await services.org_tags.remove(org_id))


@router.put("/default", response_model=DefaultTagResponse)
async def set_default_org_tag(org_id: str, body: DefaultTagBody, services: ServicesDep) -> DefaultTagResponse:
    return DefaultTagResponse(default_tag=(await services.org_tags.set_default(org_id, body.tag)).default_tag)


@router.delete("/default", response_model=DefaultTagResponse)
async def delete_default_org_tag(org_id: str, services: ServicesDep) -> DefaultTagResponse:
    return DefaultTagResponse(default_tag=(await services.org_tags.set_default(org_id, None)).default_tag)


@router.delete("/{tag}", response_model=OrgTagsResponse)
async def delete_org_tag(org_id: str, tag: str, services: ServicesDep) -> OrgTagsResponse:
    return _response(await services.org_tags.remove(org_id, tag))
