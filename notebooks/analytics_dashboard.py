"""Shopflow analytics dashboard: revenue, funnel, cohorts, top products, live metrics.

Run: ``make dashboard`` / ``shopflow dashboard`` (or ``marimo run notebooks/analytics_dashboard.py``).
Charts are SQL over the analytics marts, read from a snapshot (see dashboard_data.py).
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Shopflow analytics")


@app.cell
def _():
    import marimo as mo
    from dashboard_data import chart, fmt_money, live_metrics, refresh_snapshot

    return chart, fmt_money, live_metrics, mo, refresh_snapshot


@app.cell
def _(mo, refresh_snapshot):
    snap = refresh_snapshot()
    mo.md(f"# Shopflow analytics\n_Data: {snap.message}_")
    return (snap,)


@app.cell
def _(chart, fmt_money, mo, snap):
    revenue = snap.query(
        """SELECT event_date, currency, sum(orders) AS orders, sum(gross_minor) AS gross_minor,
                  sum(refunds_minor) AS refunds_minor, sum(net_minor) AS net_minor
           FROM mart_revenue_daily GROUP BY ALL ORDER BY event_date"""
    )
    by_category = snap.query(
        """SELECT category, currency, sum(gross_minor) AS gross_minor, sum(net_minor) AS net_minor,
                  round(sum(gross_minor) / sum(orders)) AS aov_minor
           FROM mart_revenue_daily GROUP BY ALL ORDER BY gross_minor DESC"""
    )
    by_method = snap.query(
        """SELECT payment_method, sum(net_minor) AS net_minor FROM mart_revenue_daily
           GROUP BY ALL ORDER BY net_minor DESC"""
    )
    total = fmt_money(revenue["net_minor"].sum(), "") if not revenue.empty else "-"
    mo.vstack(
        [
            mo.md(f"## Revenue\nNet revenue over the period: **{total}** (minor units / 100)"),
            mo.Html(
                chart(revenue, "event_date", ["gross_minor", "net_minor"], title="Revenue per day")
            ),
            mo.hstack(
                [
                    mo.Html(
                        chart(
                            by_category.head(10),
                            "category",
                            ["net_minor"],
                            "bar",
                            "Net by category",
                        )
                    ),
                    mo.Html(
                        chart(
                            by_method,
                            "payment_method",
                            ["net_minor"],
                            "bar",
                            "Net by payment method",
                        )
                    ),
                ]
            ),
        ]
    )
    return


@app.cell
def _(chart, mo, snap):
    steps = snap.query(
        """SELECT * FROM (
             SELECT 1 AS n, 'sessions' AS step, sum(sessions) AS sessions FROM mart_funnel_daily
             UNION ALL SELECT 2, 'product view', sum(product_view_sessions) FROM mart_funnel_daily
             UNION ALL SELECT 3, 'add to cart', sum(add_to_cart_sessions) FROM mart_funnel_daily
             UNION ALL SELECT 4, 'checkout', sum(checkout_sessions) FROM mart_funnel_daily
             UNION ALL SELECT 5, 'paid', sum(paid_sessions) FROM mart_funnel_daily
           ) WHERE sessions IS NOT NULL ORDER BY n"""
    )
    by_source = snap.query(
        """SELECT traffic_source, sum(sessions) AS sessions, sum(paid_sessions) AS paid,
                  round(sum(paid_sessions) / sum(sessions), 4) AS conversion_rate
           FROM mart_funnel_daily GROUP BY ALL ORDER BY sessions DESC"""
    )
    mo.vstack(
        [
            mo.md("## Funnel"),
            mo.Html(chart(steps, "step", ["sessions"], "bar", "Sessions reaching each step")),
            mo.ui.table(by_source, selection=None, label="Conversion by traffic source"),
        ]
    )
    return


@app.cell
def _(mo, snap):
    cohorts = snap.query(
        """PIVOT (SELECT cohort_week, week_number, round(retention_rate, 3) AS r
                  FROM mart_cohort_retention_weekly)
           ON week_number USING first(r) ORDER BY cohort_week"""
    )
    mo.vstack(
        [
            mo.md("## Weekly cohort retention (share of each cohort active N weeks later)"),
            mo.ui.table(cohorts, selection=None) if not cohorts.empty else mo.md("_no data yet_"),
        ]
    )
    return


@app.cell
def _(chart, mo, snap):
    products = snap.query(
        """SELECT p.item_id, coalesce(i.title, p.item_id) AS title, sum(p.views) AS views,
                  sum(p.units_purchased) AS units_purchased,
                  round(sum(p.buyers) / nullif(sum(p.viewers), 0), 4) AS purchase_per_viewer
           FROM mart_product_daily p LEFT JOIN dim_items i USING (item_id)
           GROUP BY ALL ORDER BY views DESC LIMIT 10"""
    )
    mo.vstack(
        [
            mo.md("## Top products"),
            mo.Html(
                chart(
                    products,
                    "item_id",
                    ["views", "units_purchased"],
                    "bar",
                    "Top products by views",
                )
            ),
            mo.ui.table(products, selection=None),
        ]
    )
    return


@app.cell
def _(chart, live_metrics, mo):
    live = live_metrics()
    mo.vstack(
        [
            mo.md("## Live (last hour, from Redis)"),
            mo.Html(
                chart(
                    live,
                    "minute",
                    ["orders", "active_users"],
                    title="Orders and active users per minute",
                )
            )
            if not live.empty
            else mo.md("_Redis is not running: no live metrics_"),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
