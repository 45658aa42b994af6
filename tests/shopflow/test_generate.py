"""The synthetic shop generator: contract, determinism, realism, hooks and CLI errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.main import app
from shopflow import events
from shopflow.config import Settings
from shopflow.generate import GenerateError, generate_shop

START = date(2025, 3, 3)


def _glob(settings: Settings, event_type: str) -> str:
    return str(settings.landing_dir / events.table_name(event_type) / "*" / "*.parquet")


def _sql(settings: Settings, sql: str) -> list[tuple]:
    """Run SQL where ``{event.type}`` names the landed rows of that event type."""
    con = duckdb.connect()
    for event_type in events.PAYLOADS:
        if (settings.landing_dir / events.table_name(event_type)).exists():
            con.execute(
                f'CREATE VIEW "{event_type}" AS SELECT * FROM read_parquet('
                f"'{_glob(settings, event_type)}', hive_partitioning = false)"
            )
    return con.execute(sql).fetchall()


def _one(settings: Settings, sql: str) -> float:
    return _sql(settings, sql)[0][0]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    """One mid-sized shop (~1M events) shared by the realism tests."""
    settings = Settings(home=tmp_path_factory.mktemp("shop"))
    report = generate_shop(
        20_000, 30, 11, items=2_000, start=START, settings=settings, progress=False
    )
    return settings, report


def test_every_landed_row_passes_the_contract_and_parses(shop) -> None:
    settings, report = shop
    assert set(report.counts) >= {
        "product.upserted", "user.registered", "session_start", "product_view", "search",
        "add_to_cart", "remove_from_cart", "checkout_started", "order_placed", "order_paid",
        "order_cancelled", "order_refunded", "payment.created", "payment.completed",
        "payment.failed", "payment.refunded", "review.submitted", "review.approved",
        "review.rejected", "wishlist_add", "wishlist_remove", "rec_impression", "rec_click",
        "product.price_changed", "product.stock_changed",
    }  # fmt: skip
    con = duckdb.connect()
    for event_type, count in report.counts.items():
        rows = f"read_parquet('{_glob(settings, event_type)}', hive_partitioning = false)"
        assert con.execute(f"SELECT count(*) FROM {rows}").fetchall()[0][0] == count
        for predicate, reason in events.contract_checks(event_type):
            bad = con.execute(f"SELECT count(*) FROM {rows} WHERE {predicate}").fetchall()[0][0]
            assert bad == 0, f"{event_type}: {bad} rows break '{reason}'"
        sample = con.sql(f"SELECT * FROM {rows} USING SAMPLE 25 ROWS").to_arrow_table().to_pylist()
        envelope = set(events.Envelope.ENVELOPE_FIELDS)
        for row in sample:
            payload = {k: v for k, v in row.items() if k not in envelope}
            event = events.parse_event({**{k: row[k] for k in envelope}, "payload": payload})
            assert event.event_type == event_type
    assert report.total_events == sum(report.counts.values())
    assert all(Path(f).exists() for f in report.files)


def test_event_ids_are_unique_and_ids_look_like_the_contract(shop) -> None:
    settings, report = shop
    union = " UNION ALL ".join(f'SELECT event_id FROM "{t}"' for t in report.counts)
    assert _one(settings, f"SELECT count(DISTINCT event_id) FROM ({union})") == report.total_events
    assert _sql(settings, 'SELECT min(item_id), max(item_id) FROM "product.upserted"')[0] == (
        "i000000",
        "i001999",
    )
    assert _one(settings, 'SELECT min(user_id) FROM "user.registered"') == "u000000"


def test_same_seed_gives_identical_rows_other_seed_differs(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> dict[str, object]:
        settings = Settings(home=tmp_path / name)
        report = generate_shop(300, 4, seed, start=START, settings=settings, progress=False)
        return {
            t: pq.ParquetDataset(settings.landing_dir / events.table_name(t))
            .read()
            .select(events.arrow_schema(t).names)
            .sort_by("event_id")
            for t in report.counts
        }

    first, again, other = run("a", 5), run("b", 5), run("c", 6)
    assert first.keys() == again.keys()
    for event_type, table in first.items():
        assert table.equals(again[event_type]), event_type
    assert not first["product_view"].equals(other["product_view"])


def test_funnel_rates_are_realistic(shop) -> None:
    settings, _ = shop
    conversion = _one(
        settings,
        'SELECT (SELECT count(*) FROM "order_placed") / (SELECT count(*) FROM "session_start")',
    )
    assert 0.02 <= conversion <= 0.045
    assert _one(
        settings, 'SELECT count(*) FROM "order_placed" WHERE total_minor <> '
        "list_sum(list_transform(lines, lambda l: l.quantity * l.unit_price_minor))"
    ) == 0  # fmt: skip
    completed = _one(
        settings,
        'SELECT (SELECT count(*) FROM "payment.completed") / (SELECT count(*) FROM "order_placed")',
    )
    assert 0.92 <= completed <= 0.98
    # Every payment outcome matches its order's status event.
    assert _one(
        settings, 'SELECT count(*) FROM "payment.completed" p '
        'ANTI JOIN "order_paid" o USING (order_id)'
    ) == 0  # fmt: skip
    assert _one(
        settings, 'SELECT count(*) FROM "payment.failed" p '
        'ANTI JOIN "order_cancelled" o USING (order_id) WHERE p.failure_reason IS NOT NULL'
    ) == 0  # fmt: skip
    refunds = _sql(
        settings,
        'SELECT count(*), count(*) FILTER (refunded_minor = amount_minor), '
        'count(*) FILTER (refunded_minor > amount_minor OR refunded_minor < 1) '
        'FROM "payment.refunded"',
    )[0]  # fmt: skip
    assert refunds[0] > 0 and 0 < refunds[1] < refunds[0] and refunds[2] == 0
    assert _one(settings, 'SELECT count(*) FROM "order_refunded"') == refunds[1]
    # Out-of-stock items are never added to a cart at catalog start.
    assert _one(settings, 'SELECT count(*) FROM "product.upserted" WHERE stock = 0') > 0


def test_views_carry_stable_tastes_a_recommender_can_learn(shop) -> None:
    """A user's favourite category in the first half of the period predicts the second."""
    settings, _ = shop
    agree, users = _sql(
        settings,
        """
        WITH v AS (
            SELECT v.user_id, p.category, v.occurred_at >= TIMESTAMPTZ '2025-03-18' AS late
            FROM "product_view" v JOIN "product.upserted" p USING (item_id)),
        top AS (
            SELECT user_id, late, arg_max(category, n) AS category
            FROM (SELECT user_id, late, category, count(*) AS n FROM v GROUP BY ALL)
            GROUP BY ALL HAVING sum(n) >= 8)
        SELECT count(*) FILTER (a.category = b.category), count(*)
        FROM top a JOIN top b ON a.user_id = b.user_id AND NOT a.late AND b.late
        """,
    )[0]
    assert users > 500
    assert agree / users > 0.5  # a random category would agree ~1/20 of the time
    # Popularity is skewed: the top 5 % of items get a large share of the views.
    share = _one(
        settings,
        """SELECT sum(n) FILTER (rk <= 100) / sum(n) FROM (
            SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS rk
            FROM "product_view" GROUP BY item_id)""",
    )
    assert share > 0.2


def test_ratings_follow_taste_and_spam_is_labelled(shop) -> None:
    settings, _ = shop
    liked, other = _sql(
        settings,
        """
        WITH fav AS (
            SELECT user_id, arg_max(category, n) AS category FROM (
                SELECT v.user_id, p.category, count(*) AS n
                FROM "product_view" v JOIN "product.upserted" p USING (item_id) GROUP BY ALL)
            GROUP BY ALL)
        SELECT avg(rating) FILTER (p.category = f.category),
               avg(rating) FILTER (p.category <> f.category)
        FROM "review.submitted" r JOIN "product.upserted" p USING (item_id)
        JOIN fav f ON f.user_id = r.user_id
        WHERE r.verified_purchase
        """,
    )[0]
    assert liked > other + 0.2
    submitted = _one(settings, 'SELECT count(*) FROM "review.submitted"')
    approved = _one(settings, 'SELECT count(*) FROM "review.approved"')
    rejected, spam_reason = _sql(
        settings, "SELECT count(*), count(*) FILTER (reason = 'spam') FROM \"review.rejected\""
    )[0]
    assert approved + rejected == submitted and rejected == spam_reason
    assert 0.02 <= rejected / submitted <= 0.12
    link = "regexp_matches(body, '(?i)(www\\.|https?://)')"
    cues = _sql(
        settings,
        f"""SELECT
            avg(({link})::INT) FILTER (s.rejected), avg(({link})::INT) FILTER (NOT s.rejected),
            avg((body = upper(body))::INT) FILTER (s.rejected),
            avg((body = upper(body))::INT) FILTER (NOT s.rejected)
        FROM (SELECT *, review_id IN (SELECT review_id FROM "review.rejected") AS rejected
              FROM "review.submitted") s""",
    )[0]
    link_spam, link_ham, shout_spam, shout_ham = cues
    assert link_spam > 5 * link_ham and shout_spam > 5 * shout_ham
    assert link_spam < 0.9 and shout_spam < 0.9  # no single cue decides the label


def test_conversion_multiplier_scales_purchases(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "ab")
    even_boost = lambda users: np.where(users % 2 == 0, 3.0, 1.0)  # noqa: E731
    generate_shop(
        6000, 10, 3, start=START, settings=settings, progress=False,
        conversion_multiplier=even_boost,
    )  # fmt: skip
    rates = dict(
        _sql(
            settings,
            """SELECT right(s.user_id, 1)::INT % 2 AS odd,
                count(DISTINCT o.order_id) / count(DISTINCT s.session_id)
            FROM "session_start" s LEFT JOIN "order_placed" o USING (session_id)
            GROUP BY 1""",
        )
    )
    assert rates[0] > 2 * rates[1]
    with pytest.raises(GenerateError, match="one finite, non-negative value per user"):
        generate_shop(10, 1, 0, settings=settings, conversion_multiplier=lambda u: u[:3])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0", "--days", "3"], "--users must be at least 1"),
        (["--users", "5", "--days", "0"], "--days must be between 1 and 3650"),
        (["--users", "5", "--days", "3651"], "--days must be between 1 and 3650"),
        (["--users", "5", "--days", "3", "--seed", "-1"], "--seed must be 0 or more"),
        (["--users", "5", "--days", "3", "--items", "9"], "--items must be at least 10"),
        (["--users", "5", "--days", "3", "--start", "2025-02-30"], "--start must be a date"),
    ],
)
def test_cli_rejects_bad_arguments_and_lands_nothing(shopflow_home, args, message) -> None:
    result = CliRunner().invoke(app, ["generate", *args, "--no-progress"])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not any(shopflow_home.landing_dir.iterdir())


def test_cli_generates_a_small_shop(shopflow_home) -> None:
    args = ["generate", "--users", "50", "--days", "2", "--seed", "1", "--items", "30"]
    result = CliRunner().invoke(app, [*args, "--start", "2025-01-01", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "50 users, 30 items, 2 days from 2025-01-01" in " ".join(result.output.split())
    landed = {p.name for p in shopflow_home.landing_dir.iterdir()}
    assert {"product_upserted", "user_registered", "session_start", "product_view"} <= landed
