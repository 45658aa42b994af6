"""docs/settings.md is generated from shopflow/config.py and up to date."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.commands.settings import REDACTED, markdown
from cli.main import app
from shopflow.config import SECRET_SETTINGS, Settings, get_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_docs_settings_md_is_up_to_date() -> None:
    generated = CliRunner().invoke(app, ["settings", "--markdown"])
    assert generated.exit_code == 0, generated.output
    assert generated.output == markdown()
    assert DOC.read_text() == generated.output, (
        "docs/settings.md is stale: run `shopflow settings --markdown > docs/settings.md`"
    )


def test_every_setting_is_in_the_reference_with_a_description() -> None:
    text = markdown()
    for name, info in Settings.model_fields.items():
        assert info.description, f"{name} has no description in shopflow/config.py"
        assert f"| `{name}` |" in text


def test_secrets_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    text = markdown()
    for name in SECRET_SETTINGS:
        assert str(Settings.model_fields[name].default) not in text
    assert REDACTED in text
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2-password@cache.example.com:6379/0")
    monkeypatch.setenv("SHOPFLOW_JWT_SECRET", "x" * 40)
    get_settings.cache_clear()
    try:
        shown = CliRunner().invoke(app, ["settings"], env={"COLUMNS": "300"})
    finally:
        get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    assert "hunter2" not in shown.output and "x" * 40 not in shown.output
    assert "cache.example.com" in shown.output
