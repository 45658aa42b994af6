"""The generated demo shop holds enough labelled reviews to train the spam classifier."""

from __future__ import annotations

import polars as pl

from pipelines.assets.reviews import MIN_PER_CLASS
from shopflow.config import Settings
from shopflow.generate import generate_shop


def _rows(settings: Settings, table: str) -> pl.DataFrame:
    return pl.read_parquet(sorted((settings.landing_dir / table).rglob("*.parquet")))


def test_demo_sized_shop_has_spam_and_genuine_labels(shopflow_home: Settings) -> None:
    generate_shop(2000, 30, 1, settings=shopflow_home, progress=False)  # the demo's defaults
    spam = _rows(shopflow_home, "review_rejected").filter(pl.col("reason") == "spam").height
    genuine = _rows(shopflow_home, "review_approved").height
    assert spam >= 2 * MIN_PER_CLASS and genuine >= 4 * MIN_PER_CLASS
