"""Identifier formats of contract §3: ``devin-`` + 32 hex for sessions, ``<prefix>-`` + hex elsewhere."""

import re
import uuid

SESSION_ID = re.compile(r"^devin-[0-9a-f]{32}$")
_BARE_HEX = re.compile(r"^[0-9a-f]{32}$")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def new_session_id() -> str:
    return new_id("devin")


def normalize_session_id(value: str) -> str | None:
    """``devin-<hex>`` for either accepted spelling (with or without the prefix), else ``None``."""
    value = value.strip().lower()
    if SESSION_ID.match(value):
        return value
    if _BARE_HEX.match(value):
        return f"devin-{value}"
    return None


ENTERPRISE_SCOPE = "enterprise"
"""The owner (``org_id`` column) of enterprise-wide knowledge notes and playbooks, which every organization's
sessions use beside the org's own. Organization ids are ``org-<hex>``, so it names no organization."""
