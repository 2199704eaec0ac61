"""Who is calling, and what their role lets them do (contract §2)."""

from dataclasses import dataclass
from enum import StrEnum

from codeyard.errors import PermissionDeniedError


class Role(StrEnum):
    ENTERPRISE_ADMIN = "enterprise_admin"
    ORG_ADMIN = "org_admin"
    ORG_MEMBER = "org_member"


class Permission(StrEnum):
    MANAGE_ORGANIZATIONS = "ManageOrganizations"
    USE_SESSIONS = "UseDevinSessions"
    VIEW_SESSIONS = "ViewOrgSessions"
    MANAGE_SESSIONS = "ManageOrgSessions"
    READ_KNOWLEDGE = "ReadKnowledge"
    MANAGE_KNOWLEDGE = "ManageAccountKnowledge"
    READ_PLAYBOOKS = "ReadPlaybooks"
    MANAGE_PLAYBOOKS = "ManageAccountPlaybooks"
    READ_SCHEDULES = "ReadSchedules"
    MANAGE_SCHEDULES = "ManageOrgSchedules"
    MANAGE_SECRETS = "ManageOrgSecrets"
    MANAGE_SERVICE_USERS = "ManageOrgServiceUsers"
    IMPERSONATE_USERS = "ImpersonateOrgSessions"
    """Act for another user (``create_as_user_id``, ``message_as_user_id``): org_admin and above."""
    MANAGE_BILLING = "ManageBilling"
    VIEW_MEMBERSHIP = "ViewOrgMembership"
    VIEW_METRICS = "ViewOrgMetrics"
    MANAGE_WEBHOOKS = "ManageOrgWebhooks"


_MEMBER = frozenset(
    {
        Permission.USE_SESSIONS,
        Permission.VIEW_SESSIONS,
        Permission.MANAGE_SESSIONS,
        Permission.READ_KNOWLEDGE,
        Permission.READ_PLAYBOOKS,
        Permission.READ_SCHEDULES,
    }
)
_ORG_ADMIN = _MEMBER | {
    Permission.MANAGE_KNOWLEDGE,
    Permission.MANAGE_PLAYBOOKS,
    Permission.MANAGE_SCHEDULES,
    Permission.MANAGE_SECRETS,
    Permission.MANAGE_SERVICE_USERS,
    Permission.IMPERSONATE_USERS,
    Permission.MANAGE_BILLING,
    Permission.VIEW_MEMBERSHIP,
    Permission.VIEW_METRICS,
    Permission.MANAGE_WEBHOOKS,
}
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ENTERPRISE_ADMIN: frozenset(Permission),
    Role.ORG_ADMIN: frozenset(_ORG_ADMIN),
    Role.ORG_MEMBER: _MEMBER,
}


@dataclass(frozen=True)
class Principal:
    service_user_id: str
    service_user_name: str
    org_id: str | None
    """``None`` for an enterprise service user, who may act in every organization."""
    role: Role
    api_key_id: str

    @property
    def is_enterprise(self) -> bool:
        return self.org_id is None

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDeniedError(f"the role {self.role.value} lacks the permission {permission.value}")

    def can_access_org(self, org_id: str) -> bool:
        return self.org_id is None or self.org_id == org_id
