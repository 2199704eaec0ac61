"""Tags an enterprise admin allows in an organization (devin-api-reference §9), and its default tag.

With no allowed tags an org's sessions may carry any tag. Once some are set, a session created with another
tag is refused (422 naming ``tags``), and a session created without tags gets the default tag, if one is set.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from codeyard.errors import FieldError, NotFoundError
from codeyard.storage.db import Database
from codeyard.storage.tables import Organization, OrgTag

MAX_TAGS = 1000


@dataclass(frozen=True)
class AllowedTags:
    tags: list[str]
    default_tag: str | None


async def apply_allowed_tags(s: AsyncSession, org_id: str, tags: Sequence[str]) -> list[str]:
    """``tags`` checked against the org's allowed tags, or the default tag when none were given."""
    rows = list(await s.scalars(select(OrgTag).where(OrgTag.org_id == org_id)))
    if not rows:
        return list(tags)
    allowed = {r.tag for r in rows}
    refused = [t for t in tags if t not in allowed]
    if refused:
        raise FieldError("tags", f"not allowed in this organization: {', '.join(refused[:10])[:500]}")
    if not tags:
        return [r.tag for r in rows if r.is_default]
    return list(tags)


class OrgTags:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, org_id: str) -> AllowedTags:
        async with self.db.read() as s:
            await _org(s, org_id)
            rows = list(await s.scalars(select(OrgTag).where(OrgTag.org_id == org_id).order_by(OrgTag.pk)))
        return AllowedTags([r.tag for r in rows], next((r.tag for r in rows if r.is_default), None))

    async def replace(self, org_id: str, tags: Sequence[str]) -> AllowedTags:
        async with self.db.write() as s:
            await _org(s, org_id)
            current = {r.tag: r for r in await s.scalars(select(OrgTag).where(OrgTag.org_id == org_id))}
            wanted = list(dict.fromkeys(tags))
            _check_size(len(wanted))
            for tag, row in current.items():
                if tag not in wanted:
                    await s.delete(row)
            for tag in wanted:
                if tag not in current:
                    s.add(OrgTag(org_id=org_id, tag=tag, is_default=False))
        return await self.get(org_id)

    async def add(self, org_id: str, tags: Sequence[str]) -> AllowedTags:
        async with self.db.write() as s:
            await _org(s, org_id)
            current = set(await s.scalars(select(OrgTag.tag).where(OrgTag.org_id == org_id)))
            new = [t for t in dict.fromkeys(tags) if t not in current]
            _check_size(len(current) + len(new))
            for tag in new:
                s.add(OrgTag(org_id=org_id, tag=tag, is_default=False))
        return await self.get(org_id)

    async def remove(self, org_id: str, tag: str | None = None) -> AllowedTags:
        """Remove one tag, or all of them."""
        async with self.db.write() as s:
            await _org(s, org_id)
            query = delete(OrgTag).where(OrgTag.org_id == org_id)
            if tag is not None:
                found = await s.scalar(select(OrgTag.pk).where(OrgTag.org_id == org_id, OrgTag.tag == tag))
                if found is None:
                    raise NotFoundError(f"tag {tag[:80]!r} is not allowed in this organization")
                query = query.where(OrgTag.tag == tag)
            await s.execute(query)
        return await self.get(org_id)

    async def set_default(self, org_id: str, tag: str | None) -> AllowedTags:
        """Make ``tag`` (added to the allowed tags if needed) the default; ``None`` clears the default."""
        async with self.db.write() as s:
            await _org(s, org_id)
            await s.execute(update(OrgTag).where(OrgTag.org_id == org_id).values(is_default=False))
            if tag is not None:
                row = await s.scalar(select(OrgTag).where(OrgTag.org_id == org_id, OrgTag.tag == tag))
                if row is None:
                    s.add(OrgTag(org_id=org_id, tag=tag, is_default=True))
                else:
                    row.is_default = True
        return await self.get(org_id)


async def _org(s: AsyncSession, org_id: str) -> None:
    found = await s.scalar(select(Organization.pk).where(Organization.id == org_id, Organization.deleted_at.is_(None)))
    if found is None:
        raise NotFoundError(f"organization {org_id[:80]} not found")


def _check_size(count: int) -> None:
    if count > MAX_TAGS:
        raise FieldError("tags", f"an organization allows at most {MAX_TAGS} tags")
