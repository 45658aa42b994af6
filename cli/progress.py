"""What ``shopflow materialize`` (and the demo) print while Dagster runs: one line per asset
with its status, time and key metadata, failed steps and checks, and a summary; everything
else (Dagster's event log, dbt's output) goes to a log file under ``$SHOPFLOW_HOME/logs``."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from dagster import DagsterEvent

    from shopflow.config import Settings

#: Metadata worth a glance, in print order: key -> label ("" prints the value alone).
KEY_METADATA = {
    "rows_loaded": "rows",
    "dagster/row_count": "rows",
    "rows_quarantined": "quarantined",
    "products": "products",
    "inserted": "new",
    "rejected": "rejected",
    "best_model": "best",
    "trained": "trained",
    "labelled": "labelled",
    "precision": "precision",
    "recall": "recall",
    "trials": "trials",
}


def log_path(settings: Settings, name: str = "materialize") -> Path:
    """A new log file under ``$SHOPFLOW_HOME/logs``, named by the UTC time."""
    folder = settings.home_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[TextIO]:
    """Send this process's stdout and stderr, and its children's (dbt), to ``path``; yield a
    stream on the original stdout for the progress lines. Where stdout is no file (a test
    runner's buffer), nothing is redirected and the stream is stdout itself."""
    try:
        out_fd = sys.stdout.fileno()
    except (AttributeError, io.UnsupportedOperation):
        yield sys.stdout
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(out_fd), "w", buffering=1)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()


def file_handler(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return handler


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def key_metadata(metadata: dict[str, Any]) -> list[str]:
    """The few facts of an asset's metadata worth one line (see ``KEY_METADATA``)."""
    parts = [
        f"{label} {_number(metadata[k])}" for k, label in KEY_METADATA.items() if k in metadata
    ]
    for key, value in metadata.items():
        if key.startswith("best_ndcg@"):
            parts.append(f"NDCG@{key.split('@', 1)[1]} {_number(value)}")
    if "gate" in metadata:
        moved = metadata["gate"] == "promoted"
        parts.append(f"champion {'moved to' if moved else 'stays'} {metadata.get('champion', '?')}")
    elif "champion" in metadata:
        parts.append(f"champion {metadata['champion']}")
    if metadata.get("status") in ("skipped", "failed"):
        parts.append(f"{metadata['status']}: {metadata.get('reason') or metadata.get('error')}")
    return parts


@dataclass
class ProgressReport:
    """Turns Dagster events into the lines above; counts what the summary says."""

    console: Console
    started: float = field(default_factory=time.monotonic)
    step_started: dict[str, float] = field(default_factory=dict)
    assets: int = 0
    checks: dict[str, int] = field(default_factory=lambda: {"passed": 0, "warned": 0, "failed": 0})
    failed_steps: list[str] = field(default_factory=list)

    def _line(self, text: str) -> None:
        """One line: cut to a terminal's width, whole in a file or pipe."""
        if self.console.is_terminal:
            self.console.print(text, no_wrap=True, overflow="ellipsis", highlight=False)
        else:
            self.console.print(text, soft_wrap=True, highlight=False)

    def _seconds(self, step_key: str | None) -> float:
        return time.monotonic() - self.step_started.get(step_key or "", self.started)

    def __call__(self, event: DagsterEvent) -> None:
        kind = event.event_type_value
        data: Any = event.event_specific_data
        if kind == "STEP_START":
            self.step_started[event.step_key or ""] = time.monotonic()
        elif kind == "ASSET_MATERIALIZATION":
            self.assets += 1
            materialization = data.materialization
            meta = {k: v.value for k, v in materialization.metadata.items()}
            seconds = meta.get("Execution Duration") or self._seconds(event.step_key)
            facts = " · ".join(key_metadata(meta))
            name = materialization.asset_key.to_user_string()
            self._line(f"[green]ok[/]      {escape(name):<36} {seconds:6.1f}s  {escape(facts)}")
        elif kind == "ASSET_CHECK_EVALUATION":
            if data.passed:
                self.checks["passed"] += 1
                return
            warn = data.severity.value == "WARN"
            self.checks["warned" if warn else "failed"] += 1
            label = "[yellow]warn[/]    " if warn else "[red]FAILED[/]  "
            check = f"{data.asset_key.to_user_string()}:{data.check_name}"
            self._line(f"{label}check {escape(check)}")
        elif kind == "STEP_FAILURE":
            self.failed_steps.append(event.step_key or "?")
            message = (data.error.message if data.error else "").strip().splitlines()
            why = escape(message[0] if message else "")
            step = escape(event.step_key or "?")
            self._line(f"[red]FAILED[/]  {step:<36} {self._seconds(event.step_key):6.1f}s  {why}")
        elif kind == "STEP_SKIPPED":
            self._line(f"[yellow]skipped[/] {escape(event.step_key or '?')} (upstream failed)")

    def summary(self, log: Path | None) -> str:
        c = self.checks
        text = (
            f"materialized {self.assets} assets in {time.monotonic() - self.started:.0f}s; "
            f"checks: {c['passed']} passed, {c['warned']} warned (not blocking), "
            f"{c['failed']} failed"
        )
        if self.failed_steps:
            text += f"; failed step(s): {', '.join(self.failed_steps)}"
        return text + (f"\nfull log: {log}" if log else "")
