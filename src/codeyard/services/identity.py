"""Organizations, service users and API keys: provisioning, authentication and first-start bootstrap."""

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from codeyard.domain.ids import new_id
from codeyard.domain.lifecycle import SessionStatus, StatusDetail
from codeyard.errors import AuthenticationError, BadRequestError, ConflictError, NotFoundError
from codeyard.services.clock import Clock, system_clock
from codeyard.services.crypto import API_KEY_PREFIX, key_digest, new_api_key
from codeyard.services.principal import Principal, Role
from codeyard.services.sessions import apply_state, state_of
from codeyard.storage.db import Database
from codeyard.storage.tables import AgentSessionRow, ApiKey, Meta, Organization, Schedule, ServiceUser


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: the token is shown once and never stored."""

    api_key_id: str
    service_user_id: str
    token: str
    expires_at: float | None


@dataclass(frozen=True)
class Bootstrap:
    org_id: str
    org_api_key: str
    enterprise_api_key: str


class Identity:
    AUTH_CACHE_SECONDS = 2.0
    """How long a successful authentication is reused in this process. A key revoked by another process (``codeyard
    admin``, another replica) stops working within this time; one revoked here stops at once."""

    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        self._recent: dict[str, tuple[float, Principal, float | None]] = {}

    # -- authentication ------------------------------------------------------------------------------
    async def authenticate(self, token: str) -> Principal:
        if not token.startswith(API_KEY_PREFIX) or len(token) > 256:
            raise AuthenticationError("the API key is not a codeyard key (cog_…)")
        now = self.clock()
        digest = key_digest(token)
        cached = self._recent.get(digest)
        if cached is not None:
            seen, principal, expires_at = cached
            if now - seen < self.AUTH_CACHE_SECONDS and (expires_at is None or expires_at > now):
                return principal

        def lookup(s: Session) -> Any:
            return s.execute(
                select(ApiKey, ServiceUser, Organization.deleted_at)
                .join(ServiceUser, ServiceUser.id == ApiKey.service_user_id)
                .outerjoin(Organization, Organization.id == ServiceUser.org_id)
                .where(ApiKey.digest == digest)
            ).first()

        row = await self.db.read_batch(lookup)
        if row is None:
            raise AuthenticationError("the API key is unknown")
        key, user, org_deleted_at = row
        if key.revoked_at is not None:
            raise AuthenticationError("the API key has been revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise AuthenticationError("the API key has expired")
        if user.deleted_at is not None:
            raise AuthenticationError("the API key's service user has been deleted")
        if org_deleted_at is not None:
            raise AuthenticationError("the API key's organization has been deleted")
        principal = Principal(user.id, user.name, user.org_id, Role(user.role), key.id)
        if len(self._recent) > 10_000:
            self._recent.clear()
        self._recent[digest] = (now, principal, key.expires_at)
        return principal

    async def touch_key(self, api_key_id: str) -> None:
        async with self.db.write() as s:
            await s.execute(update(ApiKey).where(ApiKey.id == api_key_id).values(last_used_at=self.clock()))

    # -- organizations -------------------------------------------------------------------------------
    async def create_org(
        self, name: str, *, max_cycle_acu_limit: float | None = None, max_session_acu_limit: float | None = None
    ) -> Organization:
        now = self.clock()
        org = Organization(
            id=new_id("org"),
            name=name,
            max_cycle_acu_limit=max_cycle_acu_limit,
            max_session_acu_limit=max_session_acu_limit,
            created_at=now,
            updated_at=now,
        )
        async with self.db.write() as s:
            s.add(org)
        return org

    async def list_orgs(self) -> list[Organization]:
        async with self.db.read() as s:
            rows = await s.scalars(
                select(Organization).where(Organization.deleted_at.is_(None)).order_by(Organization.pk)
            )
            return list(rows)

    async def get_org(self, org_id: str) -> Organization:
        async with self.db.read() as s:
            org = await s.scalar(
                select(Organization).where(Organization.id == org_id, Organization.deleted_at.is_(None))
            )
        if org is None:
            raise NotFoundError(f"organization {org_id} not found")
        return org

    async def update_org(self, org_id: str, changes: dict[str, object]) -> Organization:
        async with self.db.write() as s:
            org = await s.scalar(
                select(Organization).where(Organization.id == org_id, Organization.deleted_at.is_(None))
            )
            if org is None:
                raise NotFoundError(f"organization {org_id} not found")
            for field in ("name", "max_cycle_acu_limit", "max_session_acu_limit"):
                if field in changes:
                    setattr(org, field, changes[field])
            org.updated_at = self.clock()
        return org

    async def delete_org(self, org_id: str) -> Organization:
        """Soft delete: its keys stop working and it disappears from lists; its data stays on disk.

        Nothing of it runs any more: its schedules are deleted with it, and every session that is not over yet is
        terminated (a queued one never starts; runners stop a running one when they next look, within seconds).
        """
        now = self.clock()
        async with self.db.write() as s:
            org = await s.scalar(
                select(Organization).where(Organization.id == org_id, Organization.deleted_at.is_(None))
            )
            if org is None:
                raise NotFoundError(f"organization {org_id} not found")
            org.deleted_at = org.updated_at = now
            await s.execute(
                update(Schedule)
                .where(Schedule.org_id == org_id, Schedule.deleted_at.is_(None))
                .values(deleted_at=now, updated_at=now, enabled=False)
            )
            live = await s.scalars(
                select(AgentSessionRow).where(
                    AgentSessionRow.org_id == org_id,
                    ~(
                        (AgentSessionRow.status == SessionStatus.EXIT.value)
                        & (AgentSessionRow.status_detail == StatusDetail.USER_REQUEST.value)
                    ),
                )
            )
            for row in live:
                await apply_state(s, row, state_of(row).terminate(), now, reason="the organization was deleted")
            self._recent = {d: c for d, c in self._recent.items() if c[1].org_id != org_id}
        return org

    # -- service users and keys ----------------------------------------------------------------------
    async def create_service_user(self, name: str, role: Role, org_id: str | None) -> ServiceUser:
        if role == Role.ENTERPRISE_ADMIN and org_id is not None:
            raise BadRequestError("an enterprise_admin service user belongs to no organization")
        if role != Role.ENTERPRISE_ADMIN and org_id is None:
            raise BadRequestError(f"a {role.value} service user needs an organization")
        if org_id is not None:
            await self.get_org(org_id)
        user = ServiceUser(
            id=new_id("service-user"), name=name, org_id=org_id, role=role.value, created_at=self.clock()
        )
        async with self.db.write() as s:
            s.add(user)
        return user

    async def list_service_users(self, org_id: str | None = None) -> list[ServiceUser]:
        query = select(ServiceUser).where(ServiceUser.deleted_at.is_(None)).order_by(ServiceUser.pk)
        if org_id is not None:
            query = query.where(ServiceUser.org_id == org_id)
        async with self.db.read() as s:
            return list(await s.scalars(query))

    async def get_service_user(self, service_user_id: str, org_id: str | None = None) -> ServiceUser:
        """A live service user; with ``org_id``, only one of that org (404 otherwise, as for any other org's id)."""
        query = select(ServiceUser).where(ServiceUser.id == service_user_id, ServiceUser.deleted_at.is_(None))
        if org_id is not None:
            query = query.where(ServiceUser.org_id == org_id)
        async with self.db.read() as s:
            user = await s.scalar(query)
        if user is None:
            raise NotFoundError(f"service user {service_user_id[:80]} not found")
        return user

    async def set_role(self, service_user_id: str, role: Role, org_id: str | None) -> ServiceUser:
        """Give a service user another role (and with it, the org it belongs to: none for enterprise_admin)."""
        if (role == Role.ENTERPRISE_ADMIN) != (org_id is None):
            raise BadRequestError("enterprise_admin belongs to no organization; the other roles need one")
        if org_id is not None:
            await self.get_org(org_id)
        async with self.db.write() as s:
            user = await s.scalar(
                select(ServiceUser).where(ServiceUser.id == service_user_id, ServiceUser.deleted_at.is_(None))
            )
            if user is None:
                raise NotFoundError(f"service user {service_user_id[:80]} not found")
            user.role, user.org_id = role.value, org_id
        self._recent = {d: c for d, c in self._recent.items() if c[1].service_user_id != service_user_id}
        return user

    async def get_key(self, api_key_id: str, service_user_id: str) -> ApiKey:
        async with self.db.read() as s:
            key = await s.scalar(
                select(ApiKey).where(ApiKey.id == api_key_id, ApiKey.service_user_id == service_user_id)
            )
        if key is None:
            raise NotFoundError(f"API key {api_key_id[:80]} not found")
        return key

    async def issue_key(
        self, service_user_id: str, name: str = "default", *, ttl_seconds: float | None = None
    ) -> IssuedKey:
        if ttl_seconds is not None and not (math.isfinite(ttl_seconds) and ttl_seconds > 0):
            raise BadRequestError("a key's lifetime must be a positive number of seconds")
        now = self.clock()
        token = new_api_key()
        expires_at = now + ttl_seconds if ttl_seconds else None
        async with self.db.write() as s:
            user = await s.scalar(
                select(ServiceUser).where(ServiceUser.id == service_user_id, ServiceUser.deleted_at.is_(None))
            )
            if user is None:
                raise NotFoundError(f"service user {service_user_id} not found")
            key = ApiKey(
                id=new_id("apikey"),
                service_user_id=service_user_id,
                name=name,
                digest=key_digest(token),
                hint=token[:8],
                created_at=now,
                expires_at=expires_at,
            )
            s.add(key)
        return IssuedKey(key.id, service_user_id, token, expires_at)

    async def list_keys(self, service_user_id: str | None = None) -> list[ApiKey]:
        query = select(ApiKey).order_by(ApiKey.pk)
        if service_user_id is not None:
            query = query.where(ApiKey.service_user_id == service_user_id)
        async with self.db.read() as s:
            return list(await s.scalars(query))

    async def revoke_key(self, api_key_id: str) -> ApiKey:
        async with self.db.write() as s:
            key = await s.scalar(select(ApiKey).where(ApiKey.id == api_key_id))
            if key is None:
                raise NotFoundError(f"API key {api_key_id} not found")
            if key.revoked_at is not None:
                raise ConflictError(f"API key {api_key_id} is already revoked")
            key.revoked_at = self.clock()
            self._recent = {d: c for d, c in self._recent.items() if c[1].api_key_id != api_key_id}
        return key

    # -- first start -----------------------------------------------------------------------------------
    async def bootstrap(self) -> Bootstrap | None:
        """On an empty database: the enterprise, org ``default``, an enterprise admin and an org admin, with keys.

        Returns ``None`` when the installation was bootstrapped before (by this or another process).
        """
        now = self.clock()
        org = Organization(id=new_id("org"), name="default", created_at=now, updated_at=now)
        admin = ServiceUser(
            id=new_id("service-user"), name="enterprise-admin", org_id=None, role=Role.ENTERPRISE_ADMIN, created_at=now
        )
        org_admin = ServiceUser(
            id=new_id("service-user"), name="default-admin", org_id=org.id, role=Role.ORG_ADMIN, created_at=now
        )
        enterprise_token, org_token = new_api_key(), new_api_key()
        try:
            return await self._bootstrap(org, admin, org_admin, enterprise_token, org_token, now)
        except ConflictError:  # another process bootstrapped at the same moment (PostgreSQL)
            return None

    async def _bootstrap(
        self,
        org: Organization,
        admin: ServiceUser,
        org_admin: ServiceUser,
        enterprise_token: str,
        org_token: str,
        now: float,
    ) -> Bootstrap | None:
        async with self.db.write() as s:
            if await s.get(Meta, "bootstrapped") is not None:
                return None
            s.add_all(
                [
                    Meta(key="bootstrapped", value=str(now)),
                    Meta(key="enterprise_id", value=new_id("enterprise")),
                    org,
                    admin,
                    org_admin,
                ]
            )
            await s.flush()
            for user, token in ((admin, enterprise_token), (org_admin, org_token)):
                s.add(
                    ApiKey(
                        id=new_id("apikey"),
                        service_user_id=user.id,
                        name="bootstrap",
                        digest=key_digest(token),
                        hint=token[:8],
                        created_at=now,
                    )
                )
        return Bootstrap(org_id=org.id, org_api_key=org_token, enterprise_api_key=enterprise_token)
