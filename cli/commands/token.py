"""``shopflow token``: mint a development JWT."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("token")
    def token(
        user: str = typer.Option(..., "--user", help="The user id (JWT sub)."),
        role: list[str] = typer.Option(["customer"], "--role", help="customer, admin or service."),
        hours: float = typer.Option(12.0, help="Lifetime in hours."),
    ) -> None:
        """Mint a development bearer token."""
        from datetime import timedelta

        from commerce.auth import Role, mint_token

        bad = [r for r in role if r not in Role.__members__]
        if bad or not user.strip() or hours <= 0:
            typer.echo(
                f"error: bad --role {bad} (use customer, admin, service), "
                "--user must be non-empty and --hours positive",
                err=True,
            )
            raise typer.Exit(2)
        typer.echo(mint_token(user, role, ttl=timedelta(hours=hours)))
