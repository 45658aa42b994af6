"""``shopflow token``: mint a bearer JWT (development, or production with the key given)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("token")
    def token(
        user: str = typer.Option(..., "--user", help="The user id (JWT sub)."),
        role: list[str] = typer.Option(["customer"], "--role", help="customer, admin or service."),
        hours: float = typer.Option(12.0, help="Lifetime in hours."),
        signing_key_file: typer.FileText = typer.Option(
            None,
            "--signing-key-file",
            help="Read the JWT signing key from this file ('-': stdin). Required for admin or "
            "service tokens in production.",
        ),
    ) -> None:
        """Mint a bearer token. In production an admin or service token needs the signing key
        given explicitly (a shell on a server is not enough to become admin)."""
        from datetime import timedelta

        from commerce.auth import Role, mint_token
        from shopflow.config import get_settings

        allowed = [Role.customer, Role.admin, Role.service]
        bad = [r for r in role if r not in allowed]
        if bad or not user.strip() or hours <= 0:
            typer.echo(
                f"error: bad --role {bad} (use customer, admin, service), "
                "--user must be non-empty and --hours positive",
                err=True,
            )
            raise typer.Exit(2)
        settings = get_settings()
        if signing_key_file is not None:
            key = signing_key_file.read().strip()
            if not key:
                typer.echo("error: the signing key file is empty", err=True)
                raise typer.Exit(2)
            settings = settings.model_copy(update={"jwt_secret": key})
        elif settings.production and set(role) & {Role.admin, Role.service}:
            typer.echo(
                "error: production mode: an admin or service token needs the signing key given "
                "explicitly (--signing-key-file)",
                err=True,
            )
            raise typer.Exit(2)
        minted = mint_token(user, role, ttl=timedelta(hours=hours), settings=settings)
        if set(role) & {Role.admin, Role.service}:
            _record_privileged_mint(user, role)
        typer.echo(minted)


def _record_privileged_mint(user: str, roles: list[str]) -> None:
    """Admin and service tokens are audited; a shop without its database yet (a developer's
    first token) is told so instead of failing the mint."""
    from commerce import audit
    from commerce.db import migrate

    try:
        migrate.upgrade()
        audit.record_cli("token", 0, {"user_id": user, "roles": ",".join(sorted(roles))})
    except Exception as exc:  # the token is still valid; the operator sees why nothing was kept
        typer.echo(f"warning: this admin/service token was not audited: {exc}", err=True)
