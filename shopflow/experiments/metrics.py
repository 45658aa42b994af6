"""Experiment metrics declared as SQL over the marts.

A metric's ``sql`` returns one row per user of the unit of analysis: ``user_id`` and
``value`` (and ``denominator`` for a ratio metric such as average order value: revenue over
orders). Users exposed to an experiment with no row count as zero. A ``guardrail`` metric
stops an experiment when it moves the wrong way significantly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
REQUIRED = {"user_id", "value"}


class MetricKind(StrEnum):
    proportion = "proportion"  # value is 0 or 1 per user (conversion)
    mean = "mean"  # value per user (revenue per user)
    ratio = "ratio"  # sum(value) / sum(denominator) (average order value)


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    name: str = ""
    kind: MetricKind
    unit: str = Field(default="user", description="Unit of analysis (the rows of ``sql``).")
    sql: str = Field(min_length=1)
    denominator: str = Field(default="", description="Ratio metrics: what the SQL divides by.")
    guardrail: bool = False
    higher_is_better: bool = True

    @model_validator(mode="after")
    def _ratio(self) -> Metric:
        if self.unit != "user":
            raise ValueError(f"metric {self.key!r}: only the unit 'user' is supported")
        if (self.kind is MetricKind.ratio) != bool(self.denominator):
            raise ValueError(f"metric {self.key!r}: a ratio metric names its denominator, "
                             "other kinds do not")  # fmt: skip
        return self

    @property
    def columns(self) -> set[str]:
        return REQUIRED | ({"denominator"} if self.kind is MetricKind.ratio else set())


def check_metric_sql(con: Any, metrics: list[Metric]) -> list[str]:
    """Run each metric's SQL with no rows against the warehouse (a DuckDB connection); one
    line per metric whose SQL fails or lacks a required column."""
    problems = []
    for metric in metrics:
        try:
            columns = {
                d[0] for d in con.execute(f"SELECT * FROM ({metric.sql}) LIMIT 0").description
            }
        except Exception as exc:  # noqa: BLE001 - any database error is the metric's fault
            problems.append(f"metrics.{metric.key}.sql: fails: {str(exc).splitlines()[0]}")
            continue
        missing = metric.columns - columns
        if missing:
            problems.append(
                f"metrics.{metric.key}.sql: lacks column(s) {', '.join(sorted(missing))}"
            )
    return problems
