"""Product comparison and the compare list, over HTTP on both databases."""

from __future__ import annotations

from tests.serving.test_reviews_fixtures import ADMIN, auth, put_product


def test_compare_side_by_side_with_differences(api_client) -> None:
    put_product(api_client, "p1", price=1000, color="red", size="42", material="leather")
    put_product(api_client, "p2", price=1200, color="red", size="43")
    put_product(api_client, "p3", price=1000, color="red", size="42", material="leather")
    r = api_client.post(
        "/api/products/p2/reviews",
        json={"rating": 4, "body": "Comfortable fit"},
        headers=auth("u1"),
    )
    api_client.post(f"/api/admin/reviews/{r.json()['id']}/approve", headers=ADMIN)

    body = api_client.get("/api/compare?ids=p1,p2").json()
    assert [p["id"] for p in body["products"]] == ["p1", "p2"]
    assert set(body["differences"]) == {"size", "material", "price"}
    assert body["products"][1]["rating"]["count"] == 1
    assert body["products"][1]["attributes"]["material"] is None
    same = api_client.get("/api/compare?ids=p1&ids=p3").json()
    assert same["differences"] == []


def test_compare_rejects_bad_id_lists(api_client) -> None:
    for pid in ("p1", "p2", "p3", "p4", "p5"):
        put_product(api_client, pid)
    assert api_client.get("/api/compare?ids=p1").status_code == 422
    assert api_client.get("/api/compare?ids=p1,p1").status_code == 422
    assert api_client.get("/api/compare?ids=p1,p2,p3,p4,p5").status_code == 422
    missing = api_client.get("/api/compare?ids=p1,nope")
    assert missing.status_code == 404 and missing.json()["missing"] == ["nope"]


def test_compare_list_holds_up_to_four(api_client) -> None:
    for pid in ("p1", "p2", "p3", "p4", "p5"):
        put_product(api_client, pid)
    me = auth("u1")
    assert api_client.get("/api/compare/list", headers=me).json()["comparison"] is None
    for pid in ("p1", "p2", "p3", "p4", "p4"):
        assert api_client.put(f"/api/compare/list/{pid}", headers=me).status_code == 200
    full = api_client.put("/api/compare/list/p5", headers=me)
    assert full.status_code == 409
    listed = api_client.get("/api/compare/list", headers=me).json()
    assert listed["product_ids"] == ["p1", "p2", "p3", "p4"]
    assert len(listed["comparison"]["products"]) == 4
    after = api_client.delete("/api/compare/list/p2", headers=me).json()
    assert after["product_ids"] == ["p1", "p3", "p4"]
    assert api_client.get("/api/compare/list", headers=auth("u2")).json()["product_ids"] == []
    assert api_client.put("/api/compare/list/nope", headers=me).status_code == 404
