"""``codeyard admin``: organizations, service users and API keys, directly on the database (no server needed)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from codeyard.errors import CodeyardError
from codeyard.services.principal import Role

if TYPE_CHECKING:
    from codeyard.services.identity import Identity

admin_app = typer.Typer(no_args_is_help=True, help="Provision organizations, service users and API keys.")
orgs_app = typer.Typer(no_args_is_help=True, help="Organizations.")
users_app = typer.Typer(no_args_is_help=True, help="Service users.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
admin_app.add_typer(orgs_app, name="orgs")
admin_app.add_typer(users_app, name="service-users")
admin_app.add_typer(keys_app, name="keys")

T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (CODEYARD_DATA_DIR).")]


def _run(data_dir: Path | None, action: Callable[[Identity], Awaitable[T]]) -> T:
    # The database stack is imported here, not at the top: every other command starts without it.
    import asyncio

    from codeyard.config import Settings
    from codeyard.services.identity import Identity
    from codeyard.storage.db import Database, migrate

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))  # type: ignore[arg-type]

    async def go() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(migrate, settings.resolved_database_url)
        db = Database(settings.resolved_database_url)
        try:
            return await action(Identity(db))
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except CodeyardError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


def _emit(rows: Sequence[dict[str, Any]], as_json: bool, columns: Sequence[str], *, single: bool = False) -> None:
    """A table for people; with ``--json`` a list, or one object for commands about one thing."""
    if as_json:
        typer.echo(json.dumps(rows[0] if single else list(rows), indent=2))
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    typer.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        typer.echo("  ".join(str(r.get(c, "") if r.get(c) is not None else "-").ljust(widths[c]) for c in columns))


def _emit_key(row: dict[str, Any], as_json: bool) -> None:
    """One created thing as ``field  value`` lines, and its new API key apart, marked as shown once."""
    if as_json:
        typer.echo(json.dumps(row, indent=2))
        return
    fields = [k for k in row if k != "api_key"]
    width = max(len(k) for k in fields)
    for k in fields:
        value = row[k]
        if k.endswith("_at") and isinstance(value, int | float):
            value = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        typer.echo(f"{k.ljust(width)}  {'-' if value is None else value}")
    if row.get("api_key"):
        typer.echo("\nAPI key (shown once: store it now, it cannot be shown again):\n")
        typer.echo(f"    {row['api_key']}\n")


@orgs_app.command("create")
def create_org(name: str, as_json: JsonOpt = False, data_dir: DataDirOpt = None) -> None:
    """Create an organization."""
    org = _run(data_dir, lambda ident: ident.create_org(name))
    _emit(
        [{"org_id": org.id, "name": org.name, "created_at": int(org.created_at)}],
        as_json,
        ["org_id", "name", "created_at"],
        single=True,
    )


@orgs_app.command("list")
def list_orgs(as_json: JsonOpt = False, data_dir: DataDirOpt = None) -> None:
    """List organizations."""
    orgs = _run(data_dir, lambda ident: ident.list_orgs())
    _emit(
        [{"org_id": o.id, "name": o.name, "created_at": int(o.created_at)} for o in orgs],
        as_json,
        ["org_id", "name", "created_at"],
    )


@users_app.command("create")
def create_user(
    name: str,
    role: Annotated[Role, typer.Option(help="enterprise_admin, org_admin or org_member.")] = Role.ORG_MEMBER,
    org: Annotated[str | None, typer.Option("--org", help="Organization id (not for enterprise_admin).")] = None,
    key: Annotated[bool, typer.Option("--key/--no-key", help="Also issue an API key (shown once).")] = True,
    ttl_days: Annotated[float | None, typer.Option(help="Key lifetime in days (default: no expiry).")] = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a service user, and by default an API key for it."""

    async def action(ident: Identity) -> dict[str, Any]:
        user = await ident.create_service_user(name, role, org)
        out: dict[str, Any] = {"service_user_id": user.id, "name": user.name, "role": user.role, "org_id": user.org_id}
        if key:
            issued = await ident.issue_key(user.id, ttl_seconds=ttl_days * 86400 if ttl_days else None)
            out |= {"api_key_id": issued.api_key_id, "api_key": issued.token, "expires_at": issued.expires_at}
        return out

    row = _run(data_dir, action)
    _emit_key(row, as_json)


@users_app.command("list")
def list_users(
    org: Annotated[str | None, typer.Option("--org")] = None, as_json: JsonOpt = False, data_dir: DataDirOpt = None
) -> None:
    """List service users."""
    users = _run(data_dir, lambda ident: ident.list_service_users(org))
    _emit(
        [{"service_user_id": u.id, "name": u.name, "role": u.role, "org_id": u.org_id} for u in users],
        as_json,
        ["service_user_id", "name", "role", "org_id"],
    )


@keys_app.command("create")
def create_key(
    service_user_id: str,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
    ttl_days: Annotated[float | None, typer.Option(help="Lifetime in days (default: no expiry).")] = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Issue an API key for a service user (the key is shown once)."""
    issued = _run(
        data_dir,
        lambda ident: ident.issue_key(service_user_id, name, ttl_seconds=ttl_days * 86400 if ttl_days else None),
    )
    row = {
        "api_key_id": issued.api_key_id,
        "service_user_id": issued.service_user_id,
        "api_key": issued.token,
        "expires_at": issued.expires_at,
    }
    _emit_key(row, as_json)


@keys_app.command("list")
def list_keys(
    service_user_id: Annotated[str | None, typer.Argument()] = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
) -> None:
    """List API keys (never the keys themselves, only their first characters)."""
    keys = _run(data_dir, lambda ident: ident.list_keys(service_user_id))
    _emit(
        [
            {
                "api_key_id": k.id,
                "service_user_id": k.service_user_id,
                "name": k.name,
                "hint": k.hint + "…",
                "expires_at": k.expires_at,
                "revoked_at": k.revoked_at,
            }
            for k in keys
        ],
        as_json,
        ["api_key_id", "service_user_id", "name", "hint", "expires_at", "revoked_at"],
    )


@keys_app.command("revoke")
def revoke_key(api_key_id: str, as_json: JsonOpt = False, data_dir: DataDirOpt = None) -> None:
    """Revoke an API key at once."""
    key = _run(data_dir, lambda ident: ident.revoke_key(api_key_id))
    _emit([{"api_key_id": key.id, "revoked_at": key.revoked_at}], as_json, ["api_key_id", "revoked_at"], single=True)
