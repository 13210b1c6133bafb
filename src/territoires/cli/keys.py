"""`territoires keys …`: API keys for partner systems (shown once, stored hashed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from territoires.cli.output import console, fails_cleanly
from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database
from territoires.shared.models import ApiKey
from territoires.shared.settings import ConfigurationError, get_settings

keys_app = typer.Typer(help="API keys of partner systems.", no_args_is_help=True)


def _scopes(value: str) -> list[Scope]:
    names = [s.strip() for s in value.split(",") if s.strip()]
    known = {s.value for s in Scope}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        choices = ", ".join(sorted(known))
        raise typer.BadParameter(
            f"unknown scope(s) {', '.join(unknown) or '(none)'}; choose from {choices}"
        )
    return [Scope(n) for n in names]


@keys_app.command("create")
@fails_cleanly
def create(
    name: Annotated[str, typer.Option(help="Who the key is for, e.g. partner-x")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: execute, ingest")],
) -> None:
    """Create a key; it is printed once and cannot be shown again."""
    chosen = _scopes(scopes)
    settings = get_settings()
    engine = create_sync_database(settings)
    try:
        key = create_key(engine, name, chosen, settings.api_key_pepper.get_secret_value())
    except IntegrityError:
        raise ConfigurationError(
            f"a key named {name!r} exists (names are never reused): choose another"
        ) from None
    finally:
        engine.dispose()
    console.print(f"key {name!r} with scopes {', '.join(chosen)} — store it now:")
    print(key)


@keys_app.command("list")
@fails_cleanly
def list_keys() -> None:
    """List keys (names, scopes, use), never their secrets."""
    engine = create_sync_database(get_settings())
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(ApiKey).order_by(ApiKey.created_at)).all()
    finally:
        engine.dispose()
    table = Table("name", "prefix", "scopes", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            row.name,
            row.prefix,
            ",".join(row.scopes),
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    Console().print(table)


@keys_app.command("revoke")
@fails_cleanly
def revoke(name: Annotated[str, typer.Argument(help="The key's name")]) -> None:
    """Revoke a key: requests with it are refused from now on."""
    engine = create_sync_database(get_settings())
    try:
        with engine.begin() as connection:
            revoked = connection.execute(
                update(ApiKey)
                .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
                .returning(ApiKey.id)
            ).first()
    finally:
        engine.dispose()
    if revoked is None:
        raise ConfigurationError(f"no active key named {name!r}")
    console.print(f"key {name!r} revoked")
