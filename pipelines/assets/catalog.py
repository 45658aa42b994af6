"""The OLTP catalog kept in step with the landing catalog, so every item the recommenders can
suggest is one a customer can order (rules: ``commerce.catalog.sync_catalog_from_landing``)."""

import dagster as dg

from commerce.catalog import sync_catalog_from_landing
from commerce.db import migrate
from pipelines.assets.landing import RAW_EVENTS, LandingZoneResource

OLTP_CATALOG = dg.AssetKey("oltp_catalog")


@dg.asset(
    key=OLTP_CATALOG,
    deps=[RAW_EVENTS],
    group_name="catalog",
    kinds={"sqlalchemy"},
    description=(
        "Products table of the commerce database, synced from the newest product.upserted "
        "row of each item in the landing zone. Inserts missing products; updates one only when "
        "its landing row is newer than the product's last change, so prices and stock an admin "
        "set later stay. Invalid landing rows are skipped and counted."
    ),
)
def oltp_catalog(
    context: dg.AssetExecutionContext, landing_zone: LandingZoneResource
) -> dg.MaterializeResult:
    settings = landing_zone.settings()
    migrate.upgrade(settings.sqlalchemy_url)
    result = sync_catalog_from_landing(settings)
    context.log.info(
        f"catalog: {result.inserted} inserted, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.kept} kept (changed here later), "
        f"{len(result.rejected)} rejected"
    )
    for item_id, reason in list(result.rejected.items())[:20]:
        context.log.warning(f"catalog: landing row of {item_id} rejected: {reason}")
    return dg.MaterializeResult(
        metadata={
            "products": result.products,
            "inserted": result.inserted,
            "updated": result.updated,
            "kept": result.kept,
            "rejected": len(result.rejected),
        }
    )


ASSETS = [oltp_catalog]
