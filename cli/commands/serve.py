"""``shopflow serve``: the API under uvicorn, after migrating the database once."""

from __future__ import annotations

import socket

import typer


def port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails the way uvicorn's bind would (SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _without_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option(None, help="Interface to bind (default: settings api_host)."),
        port: int = typer.Option(None, min=1, max=65535, help="Port (default: settings api_port)."),
        workers: int = typer.Option(
            None, min=1, max=64, help="Uvicorn worker processes (default: SHOPFLOW_API_WORKERS)."
        ),
        access_log: bool = typer.Option(
            None,
            help="uvicorn's own access log (default: off while SHOPFLOW_REQUEST_LOG writes "
            "one line per request with its id).",
        ),
    ) -> None:
        """Serve the API (docs at /docs). Migrates the database first and starts (or reuses)
        the embedded Redis when REDIS_URL is unset. Stop with Ctrl-C or SIGTERM."""
        import uvicorn

        from commerce.db import migrate
        from shopflow import embedded, logs, tracing
        from shopflow.config import InsecureSettings, check_startup, get_settings

        settings = get_settings()
        logs.configure(settings)
        tracing.configure(settings, "api")  # before the first engine: its queries are traced
        workers = workers or settings.api_workers
        if access_log is None:
            access_log = not settings.request_log
        try:
            check_startup(settings, "API")  # the app prints the mode line at start-up
        except InsecureSettings as exc:
            raise _fail(str(exc)) from exc
        host = host or settings.api_host
        port = port or settings.api_port
        if port_in_use(host, port):
            raise _fail(f"port {port} on {host} is already in use; choose another with --port")
        try:
            migrate.upgrade()
        except Exception as exc:
            raise _fail(f"database migration failed: {exc}") from exc
        try:
            redis_url = embedded.ensure_redis(settings)
        except embedded.ServiceError as exc:
            raise _fail(f"Redis is not available: {exc}") from exc
        typer.echo(
            f"Shopflow API on http://{host}:{port} (docs: /docs), {workers} worker(s), "
            f"Redis {_without_credentials(redis_url)}",
            err=True,
        )
        from serving.metrics import multiprocess_dir

        with multiprocess_dir(settings.run_dir, workers):  # /metrics sums every worker
            uvicorn.run(
                "serving.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                access_log=access_log,
                log_level=settings.log_level.lower(),
                log_config=None,  # every logger goes through shopflow.logs (console or JSON)
                timeout_keep_alive=settings.api_keepalive_s,
                timeout_graceful_shutdown=settings.api_drain_s,
            )
