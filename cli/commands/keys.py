"""``shopflow keys``: API keys like Stripe's (``sk_...`` secret, ``pk_...`` publishable)."""

from __future__ import annotations

import typer

NAME = "keys"
app = typer.Typer(help="API keys: secret (server to server) and publishable (browser).")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command("create")
def create(
    kind: str = typer.Option(..., "--kind", help="secret or publishable."),
    name: str = typer.Option(..., "--name", help="What the key is for (shown in the list)."),
) -> None:
    """Create a key and print it once: only its hash is stored."""
    from commerce import api_keys, audit
    from commerce.db import migrate
    from commerce.errors import Invalid

    migrate.upgrade()
    try:
        info, key = api_keys.create(kind, name)
    except Invalid as exc:
        raise _fail(exc.detail) from exc
    audit.record_cli("keys create", 0, {"key_id": info.id, "kind": info.kind})
    typer.echo(f"created {info.kind} key {info.id} ({info.name}); it is shown only now:", err=True)
    typer.echo(key)


@app.command("list")
def list_keys() -> None:
    """List the keys (id, kind, mode, name, created, revoked); never the keys themselves."""
    from commerce import api_keys
    from commerce.db import migrate

    migrate.upgrade()
    for info in api_keys.list_keys():
        revoked = info.revoked_at.isoformat(timespec="seconds") if info.revoked_at else "-"
        created = info.created_at.isoformat(timespec="seconds")
        typer.echo(f"{info.id}\t{info.kind}\t{info.mode}\t{info.name}\t{created}\t{revoked}")


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key's id (from `shopflow keys list`)."),
) -> None:
    """Revoke a key; running API processes refuse it within Settings.api_key_cache_s."""
    from commerce import api_keys, audit
    from commerce.db import migrate
    from commerce.errors import NotFound
    from shopflow.config import get_settings

    migrate.upgrade()
    try:
        info = api_keys.revoke(key_id)
    except NotFound as exc:
        raise _fail(exc.detail) from exc
    audit.record_cli("keys revoke", 0, {"key_id": info.id})
    ttl = get_settings().api_key_cache_s
    typer.echo(
        f"revoked {info.kind} key {info.id} ({info.name}); refused everywhere within {ttl:g} s"
    )
