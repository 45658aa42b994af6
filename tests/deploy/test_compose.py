"""compose.yaml, .env.example and the Dockerfile agree with the code: every role is a command
of the CLI, every variable a role gets is a setting, every service is health-checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from cli.commands.demo import STREAM_WORKERS
from cli.commands.settings import known_env_names
from cli.main import app
from shopflow.config import Settings, secret_problems

from .compose import (
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    REPO,
    dagster_instance_variables,
    filled_env_example,
    load_raw,
    read_env_file,
    roles,
    variables_used,
)

BIN = Path(sys.executable).parent


def resolve_command(root: Any, argv: list[str]) -> list[str]:
    """Parse ``argv`` with the CLI's own parser (unknown commands or options raise); return
    the command path."""
    cmd, args, ctx, path = root, list(argv), None, []
    while hasattr(cmd, "resolve_command"):  # a group (typer ships its own click)
        ctx = cmd.make_context(cmd.name or "shopflow", args, parent=ctx)
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, sub, args = cmd.resolve_command(ctx, rest)
        assert sub is not None and name is not None, f"no command {rest}"
        cmd = sub
        path.append(name)
    cmd.make_context(path[-1], args, parent=ctx)
    return path


def test_every_role_is_a_command_of_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the image's WORKDIR: `--instance deploy/dagster.yaml` exists
    found = roles(filled_env_example())
    shopflow = typer.main.get_command(app)
    paths = {}
    for name, role in found.items():
        if role.argv[0] == "shopflow":
            paths[name] = resolve_command(shopflow, role.argv[1:])
        else:
            assert role.argv[0] == "mlflow", name
            from mlflow.cli import cli as mlflow_cli

            assert resolve_command(mlflow_cli, role.argv[1:]) == ["server"]
    assert paths["api"] == ["serve"]
    assert {tuple(p) for p in paths.values()} >= {("dagster", "webserver"), ("dagster", "daemon"),
                                                  ("notify", "worker"), ("relay",)}  # fmt: skip
    # every worker the demo runs is a service of the topology, with the same arguments
    commands = [role.argv[1:] for role in found.values()]
    for worker, args in STREAM_WORKERS.items():
        assert any(c[: len(args)] == args for c in commands), f"{worker} is not in compose.yaml"
    workers = found["api"].argv[found["api"].argv.index("--workers") + 1]
    assert int(workers) >= 2


def test_every_variable_a_role_gets_is_a_known_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    known = known_env_names() | dagster_instance_variables()
    for name, role in roles(filled_env_example()).items():
        if role.argv[0] != "shopflow":
            continue
        unknown = sorted(set(role.environment) - known)
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"
        for key in os.environ:
            if key.startswith("SHOPFLOW_") or key in known:
                monkeypatch.delenv(key)
        for key, value in role.environment.items():
            monkeypatch.setenv(key, value)
        settings = Settings()  # every value parses
        assert settings.production, name
        assert secret_problems(settings) == [], name


def test_env_example_defines_exactly_what_compose_reads() -> None:
    used = variables_used(COMPOSE_FILE.read_text())
    defined = set(read_env_file(ENV_EXAMPLE))
    assert used - defined == set(), "compose.yaml reads variables .env.example lacks"
    assert defined - used == set(), ".env.example defines variables compose.yaml never reads"


def test_every_service_restarts_and_is_health_checked() -> None:
    services = load_raw()["services"]
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        if name != "api":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert "healthcheck" not in services["api"]  # the image's HEALTHCHECK: GET /readyz
    assert "/readyz" in DOCKERFILE.read_text().split("HEALTHCHECK", 1)[1].split("\n\n")[0]
    assert {"postgres", "redis", "kafka", "mlflow", "dagster-webserver", "dagster-daemon"} <= set(
        services
    )


def test_the_image_runs_shopflow_as_a_non_root_user_and_lints_clean() -> None:
    text = DOCKERFILE.read_text()
    runtime = text.rsplit("\nFROM ", 1)[1]
    assert 'ENTRYPOINT ["shopflow"]' in runtime
    user = next(line.split()[1] for line in runtime.splitlines() if line.startswith("USER "))
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    assert "uv" not in runtime.split("COPY --from=build", 1)[1].split("ENTRYPOINT")[0].split()
    assert "requirements.lock" in text
    done = subprocess.run(
        [str(BIN / "hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
