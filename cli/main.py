"""The ``shopflow`` command line. Core commands live here; each area adds a sub-command group
as a module in ``cli/commands/`` that defines ``app`` (a ``typer.Typer``) and ``NAME``,
or plain commands through ``register(app)``. Heavy imports stay inside the commands."""

from __future__ import annotations

import importlib
import json
import pkgutil

import typer
from rich.console import Console
from rich.table import Table

import cli.commands as commands_pkg

app = typer.Typer(help="Shopflow: e-commerce data and ML platform.", no_args_is_help=True)
services_app = typer.Typer(help="Embedded local services (Redis, Kafka-protocol broker, mail).")
events_app = typer.Typer(help="The event contract.")
app.add_typer(services_app, name="services")
app.add_typer(events_app, name="events")
console = Console()


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"shopflow {version('shopflow')}")
        raise typer.Exit()


@app.callback()
def main(
    _version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Shopflow: e-commerce data and ML platform."""
    from pydantic import ValidationError

    from shopflow.config import describe_invalid, get_settings

    try:  # a malformed setting stops every command at start, naming the variable
        get_settings()
    except ValidationError as exc:
        raise fail(describe_invalid(exc)) from None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear error and return the Exit to raise."""
    Console(stderr=True).print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@services_app.command("up")
def services_up(
    kafka: bool = typer.Option(True, help="Also start the Kafka-protocol broker."),
    mail: bool = typer.Option(True, help="Also start the mail catcher (`shopflow mail`)."),
) -> None:
    """Start (or reuse) the embedded services for this SHOPFLOW_HOME."""
    from shopflow import embedded

    names = ["redis", *(["kafka"] if kafka else []), *(["mail"] if mail else [])]
    try:
        for name in names:
            url = embedded.ensure(name)
            console.print(f"{name}: {url}")
            if name == "mail":
                port = url.rsplit(":", 1)[1]
                console.print(f"      senders need SHOPFLOW_SMTP_PORT={port}", soft_wrap=True)
    except embedded.ServiceError as exc:
        raise fail(str(exc)) from exc


@services_app.command("down")
def services_down() -> None:
    """Stop the embedded services of this SHOPFLOW_HOME (Redis saves its data first)."""
    from shopflow import embedded

    stopped = embedded.stop_all()
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@services_app.command("status")
def services_status() -> None:
    """Show the embedded services and the configured ones."""
    from shopflow import embedded
    from shopflow.config import get_settings

    settings = get_settings()
    table = Table("service", "state", "url", "pid")
    for name, state in embedded.status(settings).items():
        configured = embedded.configured_url(name, settings)
        if configured:
            table.add_row(name, "configured", configured, "-")
        elif state:
            table.add_row(name, "running", state.url, str(state.pid))
        else:
            table.add_row(name, "stopped", "-", "-")
    console.print(table)


@events_app.command("schema")
def events_schema(
    event_type: str = typer.Argument(None, help="One event type; all if omitted."),
) -> None:
    """Print the JSON Schema of the event contract."""
    from shopflow import events

    if event_type is None:
        schema = events.json_schema()
    elif event_type in events.EVENT_MODELS:
        schema = events.EVENT_MODELS[event_type].model_json_schema()
    else:
        raise fail(f"unknown event type {event_type!r}; known: {', '.join(events.PAYLOADS)}")
    typer.echo(json.dumps(schema, indent=2))


@events_app.command("types")
def events_types() -> None:
    """List the event types."""
    from shopflow import events

    for name in events.PAYLOADS:
        kind = "behaviour" if name in events.BEHAVIOUR_EVENTS else "commerce"
        typer.echo(f"{name}\t{kind}")


def _register_command_modules() -> None:
    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands_pkg.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(app)
        if hasattr(module, "app") and hasattr(module, "NAME"):
            app.add_typer(module.app, name=module.NAME)


_register_command_modules()

if __name__ == "__main__":
    app()
