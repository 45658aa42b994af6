"""Served spam verdicts: a new review is scored by the serving classifier and the rules; at or
above the classifier's threshold it is FLAGGED, and the admin view shows the scores, the rule
hits and the model version that judged it."""

from __future__ import annotations

from typing import Any

from commerce.reviews import spam
from models.spam import SpamClassifier
from tests.models.test_spam import corpus
from tests.serving.test_reviews_fixtures import ADMIN, auth, make_product


def _serve_classifier(version: str) -> SpamClassifier:
    texts, labels = corpus(200, 60, seed=8)
    model = SpamClassifier(threshold=0.6, version=version).fit(texts, labels)
    model.save(spam.classifier_path())
    return model


def _review(client: Any, user: str, rating: int, body: str) -> Any:
    return client.post(
        "/api/products/lamp/reviews", json={"rating": rating, "body": body}, headers=auth(user)
    )


def test_posted_reviews_are_judged_by_the_champion_and_the_rules(api_client) -> None:
    make_product("lamp")
    _serve_classifier("shopflow-review-spam/3")
    spammy = _review(
        api_client, "spammer", 5, "Earn money from home!!! click www.win-lamp.xyz now limited offer"
    )
    assert spammy.status_code == 201, spammy.text
    assert spammy.json()["status"] == "FLAGGED"
    genuine = _review(
        api_client, "buyer", 4, "Comfortable lamp, good handle, arrived on time and well packed."
    )
    assert genuine.json()["status"] == "PENDING"

    admin = api_client.get(f"/api/reviews/{spammy.json()['id']}", headers=ADMIN).json()
    assert admin["classifier_score"] >= 0.6 and admin["spam_score"] >= admin["classifier_score"]
    assert (
        admin["rule_hits"] == ["links"] and admin["spam_model_version"] == "shopflow-review-spam/3"
    )
    own = api_client.get(f"/api/reviews/{spammy.json()['id']}", headers=auth("spammer")).json()
    assert "spam_score" not in own and "spam_model_version" not in own
    calm = api_client.get(f"/api/reviews/{genuine.json()['id']}", headers=ADMIN).json()
    assert calm["classifier_score"] < 0.6 and calm["rule_hits"] == []


def test_obvious_link_spam_is_flagged_by_the_rules_alone(api_client) -> None:
    make_product("kettle")
    body = "CHEAP kettles at http://a.example, www.b-deals.top and kettles.shop/sale"
    posted = api_client.post(
        "/api/products/kettle/reviews", json={"rating": 5, "body": body}, headers=auth("u1")
    )
    assert posted.json()["status"] == "FLAGGED"
    admin = api_client.get(f"/api/reviews/{posted.json()['id']}", headers=ADMIN).json()
    assert admin["rule_hits"] == ["many_links", "shouted_word"]
    assert admin["classifier_score"] is None and admin["spam_model_version"] is None
    # one brand link in an honest review only waits for a moderator
    brand = api_client.post(
        "/api/products/kettle/reviews",
        json={"rating": 4, "body": "Boils fast. Same price as on www.acme.com."},
        headers=auth("u2"),
    )
    assert brand.json()["status"] == "PENDING"


def test_link_rules_count_links_and_capitals() -> None:
    def hits(text: str) -> list[str]:
        return spam.rule_hits("", text, repeated_elsewhere=False, recent_by_user=1)

    assert hits("see www.a.com") == ["links"]
    assert hits("see www.a.com and http://b.example") == ["many_links"]
    assert hits("CHEAP at www.a.com") == ["links", "shouted_word"]
    assert hits("Works with USB-C and HDMI") == []  # capitals without a link are fine
