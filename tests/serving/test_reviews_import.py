"""``shopflow import reviews``: a shop's existing reviews land as review events and show in the
API with their aggregates, verified flags and helpful votes; re-imports change nothing; bad
rows are quarantined with the reason. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from cli.main import app
from shopflow.config import get_settings
from tests.serving.test_reviews_fixtures import ADMIN, make_product

AMAZON = [  # the Amazon review JSON Lines layout (2018 edition)
    {"overall": 5.0, "verified": True, "reviewTime": "09 4, 2015", "reviewerID": "A1",
     "asin": "B01", "reviewerName": "Ann", "reviewText": "Warm and comfortable, true to size.",
     "summary": "Love it", "unixReviewTime": 1441324800, "vote": "1,234",
     "image": ["https://images.example/a.jpg", "not a url"], "style": {"Size:": " M"}},
    {"overall": 2.0, "verified": False, "reviewerID": "A2", "asin": "B01",
     "reviewText": "The zip broke after a week.", "summary": "Broke",
     "unixReviewTime": 1441411200, "vote": "3"},
    {"overall": 4.0, "verified": True, "reviewerID": "A3", "asin": "B01",
     "reviewText": "Good value.", "summary": "Fine", "unixReviewTime": 1441497600},
    {"overall": 4.0, "verified": True, "reviewerID": "A1", "asin": "B02",
     "reviewText": "Sturdy.", "summary": "OK", "unixReviewTime": 1441497600},
    {"overall": 9.0, "verified": True, "reviewerID": "A4", "asin": "B01",  # off the scale
     "reviewText": "Great", "summary": "", "unixReviewTime": 1441497600},
    {"overall": 3.0, "verified": True, "reviewerID": "A5", "asin": "B01",  # empty text
     "reviewText": "  ", "summary": "", "unixReviewTime": 1441497600},
    {"overall": 3.0, "verified": True, "reviewerID": "A6", "asin": "ZZZ",  # unknown item
     "reviewText": "Who sells this?", "summary": "", "unixReviewTime": 1441497600},
    {"overall": 3.0, "verified": "perhaps", "reviewerID": "A7", "asin": "B02",
     "reviewText": "Hm.", "summary": "", "unixReviewTime": 1441497600},
]  # fmt: skip
AMAZON_OPTIONS = [
    "--item-col", "asin", "--user-col", "reviewerID", "--rating-col", "overall",
    "--text-col", "reviewText", "--title-col", "summary", "--time-col", "unixReviewTime",
    "--verified-col", "verified", "--votes-col", "vote", "--images-col", "image",
]  # fmt: skip
DECEPTIVE = (  # the Deceptive Opinion Spam corpus layout: quoted text with line breaks
    "deceptive,hotel,polarity,source,text\n"
    'truthful,h1,negative,TripAdvisor,"The room was dirty.\nStaff ignored us."\n'
    'deceptive,h1,negative,MTurk,"My husband and I were so disappointed! Never again!"\n'
    'truthful,h2,negative,TripAdvisor,"Noisy street, thin walls, slow elevators."\n'
    'maybe,h2,negative,MTurk,"Terrible."\n'
)


def _import(path: Path, *options: str):
    return CliRunner().invoke(app, ["import", "reviews", str(path), *options])


def _landed(table: str) -> list[dict]:
    files = sorted((get_settings().landing_dir / table).rglob("*.parquet"))
    return pl.read_parquet(files).to_dicts()


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_amazon_json_lines_import_shows_in_the_api_and_reimports_idempotently(
    api_client, tmp_path
) -> None:
    make_product("B01")
    make_product("B02")
    path = _write_jsonl(tmp_path / "amazon.jsonl", AMAZON)

    out = _import(path, *AMAZON_OPTIONS)
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "landed as review.submitted │ 4" in text
    reasons = ("rating off the scale 1..5", "empty review text",
               "unknown item (not in the shop's catalog)", "unexpected verified value")  # fmt: skip
    for reason in reasons:
        assert f"quarantined: {reason} │ 1" in text, reason
    assert "4 reviews in the shop over 2 products" in text
    quarantine = pl.read_parquet(next(get_settings().import_quarantine_dir.glob("amazon-*")))
    assert sorted(quarantine["source_row"].to_list()) == [4, 5, 6, 7]

    rating = api_client.get("/api/products/B01/rating").json()
    assert rating["count"] == 3 and rating["distribution"] == {
        "1": 0,
        "2": 1,
        "3": 0,
        "4": 1,
        "5": 1,
    }
    assert rating["bayesian_average"] is not None
    listed = api_client.get("/api/products/B01/reviews?sort=helpful").json()["items"]
    assert [r["user_id"] for r in listed] == ["A1", "A2", "A3"]  # Wilson order of the votes
    top = listed[0]
    assert top["helpful"]["up"] == 1234 and top["verified_purchase"] is True
    assert top["title"] == "Love it" and top["image_links"] == ["https://images.example/a.jpg"]
    assert top["created_at"].startswith("2015-09-04")
    verified = api_client.get("/api/products/B01/reviews?verified=true").json()["items"]
    assert {r["user_id"] for r in verified} == {"A1", "A3"}

    # A shopper's vote adds to the imported ones instead of replacing them.
    from tests.serving.test_reviews_fixtures import auth

    voted = api_client.put(f"/api/reviews/{top['id']}/vote", json={"direction": "up"},
                           headers=auth("shopper"))  # fmt: skip
    assert voted.status_code == 200, voted.text
    assert voted.json()["up"] == 1235

    again = _import(path, *AMAZON_OPTIONS)
    assert again.exit_code == 0, again.output
    assert api_client.get("/api/products/B01/rating").json()["count"] == 3
    after = api_client.get("/api/products/B01/reviews?sort=helpful").json()["items"]
    assert [r["id"] for r in after] == [r["id"] for r in listed]
    assert after[0]["helpful"]["up"] == 1235


def test_labelled_csv_lands_labels_and_rejects_unexpected_values(api_client, tmp_path) -> None:
    make_product("h1")
    make_product("h2")
    path = tmp_path / "opinions.csv"
    path.write_text(DECEPTIVE)
    options = ["--item-col", "hotel", "--text-col", "text", "--label-col", "deceptive",
               "--spam-value", "deceptive", "--genuine-value", "truthful",
               "--default-rating", "2"]  # fmt: skip
    out = _import(path, *options)
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "landed as review.approved │ 2" in text and "landed as review.rejected │ 1" in text
    assert "quarantined: unexpected label value │ 1" in text
    public = api_client.get("/api/products/h1/reviews").json()["items"]
    assert [r["body"] for r in public] == ["The room was dirty.\nStaff ignored us."]
    spam_id = next(r for r in _landed("review_rejected"))["review_id"]
    admin_view = api_client.get(f"/api/reviews/{spam_id}", headers=ADMIN).json()
    assert admin_view["status"] == "REJECTED" and admin_view["reason"] == "spam"
    landed = _landed("review_rejected")
    assert [r["reason"] for r in landed] == ["spam"] and [r["rating"] for r in landed] == [2]


def test_unusable_files_fail_clearly_and_import_nothing(api_client, tmp_path) -> None:
    make_product("B01")
    path = _write_jsonl(tmp_path / "amazon.jsonl", AMAZON)
    no_rating = _import(path, "--item-col", "asin", "--text-col", "reviewText")
    assert no_rating.exit_code == 2 and "--rating-col, or --default-rating" in no_rating.output
    missing = _import(path, *AMAZON_OPTIONS[:6], "--text-col", "body")
    assert (
        missing.exit_code == 2
        and "column 'body' (--text-col) is not in amazon.jsonl" in " ".join(missing.output.split())
    )
    scale = _import(path, *AMAZON_OPTIONS, "--rating-scale", "10,100")
    assert scale.exit_code == 2 and "rating off the scale 10..100 in all 8 rows" in " ".join(
        scale.output.split()
    )
    assert api_client.get("/api/products/B01/rating").json()["count"] == 0


def test_ratings_on_other_scales_map_to_five_stars(api_client, tmp_path) -> None:
    make_product("p")
    rows = [{"id": str(i), "item": "p", "user": f"u{i}", "score": s, "text": f"review {i}"}
            for i, s in enumerate([0, 2, 5, 7.5, 10])] + [
            {"id": "1", "item": "p", "user": "u9", "score": 3, "text": "dup"}]  # fmt: skip
    path = tmp_path / "tenpoint.parquet"
    pl.DataFrame(rows).write_parquet(path)
    out = _import(path, "--item-col", "item", "--user-col", "user", "--rating-col", "score",
                  "--rating-scale", "0,10", "--text-col", "text", "--id-col", "id")  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "duplicate review id (the first row wins) │ 1" in " ".join(out.output.split())
    dist = api_client.get("/api/products/p/rating").json()["distribution"]
    assert dist == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}
