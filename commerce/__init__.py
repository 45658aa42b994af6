"""The commerce domain: catalog, orders, payments, reviews, wishlists and notifications, the
outbox and its relay, the database models and migrations. Plain Python: no HTTP, no Dagster;
errors are the exceptions in ``commerce.errors``."""
