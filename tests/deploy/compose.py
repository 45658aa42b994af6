"""Read ``compose.yaml`` as Compose does (YAML anchors and merges, ``${VAR}`` interpolation from
an env file) and list its Shopflow roles: the tests run exactly what the file says."""

from __future__ import annotations

import base64
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DAGSTER_INSTANCE = REPO / "deploy" / "dagster.yaml"
#: The image every Shopflow role runs (its `image:` in compose.yaml, before interpolation).
SHOPFLOW_IMAGE = "${SHOPFLOW_IMAGE:-shopflow:latest}"

_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


class MissingVariable(KeyError):
    """A ``${VAR:?message}`` whose variable is unset or empty."""


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a Compose env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def filled_env_example() -> dict[str, str]:
    """.env.example with every empty value filled in as its comments say: a URL-safe secret,
    or base64 of 32 random bytes under a "# base64 key" line; "# optional" ones stay empty."""
    values, kind = {}, ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line.startswith(("# base64 key", "# optional")):
            kind = line
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            if not value and kind.startswith("# base64 key"):
                value = base64.b64encode(os.urandom(32)).decode()
            elif not value and not kind.startswith("# optional"):
                value = secrets.token_urlsafe(32)
            values[key.strip()], kind = value.strip(), ""
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:?error}``, ``${VAR?error}`` and ``$VAR``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3) or ""
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op and op.endswith("-") and unset:
            return arg
        if op and op.endswith("?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def variables_used(text: str) -> set[str]:
    return {m.group(1) or m.group(4) for m in _VARIABLE.finditer(text) if m.group(0) != "$$"}


def _resolve(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, env) for key, value in node.items()}
    return node


def load_raw() -> dict[str, Any]:
    """compose.yaml with anchors and merge keys resolved, variables not yet substituted."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


@dataclass
class Role:
    """One Shopflow service: its argv inside the image and the environment Compose sets."""

    service: str
    argv: list[str]
    environment: dict[str, str]
    volumes: list[str] = field(default_factory=list)
    healthcheck: dict[str, Any] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)


def roles(env: dict[str, str]) -> dict[str, Role]:
    """Every service that runs the Shopflow image, interpolated with ``env``: the ENTRYPOINT
    (``shopflow``, or the service's ``entrypoint``) plus its ``command``."""
    raw = load_raw()
    found = {}
    for name, service in raw["services"].items():
        if service.get("image") != SHOPFLOW_IMAGE:
            continue
        resolved = _resolve(service, env)
        entrypoint = resolved.get("entrypoint") or ["shopflow"]
        found[name] = Role(
            service=name,
            argv=[*entrypoint, *resolved.get("command", [])],
            environment={k: str(v) for k, v in (resolved.get("environment") or {}).items()},
            volumes=list(resolved.get("volumes") or []),
            healthcheck=resolved.get("healthcheck") or {},
            depends_on=list(resolved.get("depends_on") or []),
        )
    return found


def image_env() -> dict[str, str]:
    """The ``ENV`` of the Dockerfile's last stage (what every container starts with)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    last_stage = text.rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in last_stage.splitlines():
        if line.startswith("ENV "):
            for key, value in re.findall(r"(\w+)=(\S+)", line[4:]):
                env[key] = value
    return env


def dagster_instance_variables() -> set[str]:
    """The variables deploy/dagster.yaml reads (``env: NAME``)."""
    return set(re.findall(r"\benv:\s*(\w+)", DAGSTER_INSTANCE.read_text()))
