"""Shopflow analytics dashboard: revenue, funnel, cohorts, top products, live metrics.

Run: ``make dashboard`` / ``shopflow dashboard`` (or ``marimo run notebooks/analytics_dashboard.py``).
Charts are SQL over the analytics marts, read from a snapshot (see dashboard_data.py). Money is
shown in major units with its currency; an empty panel says what to run.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Shopflow analytics")


@app.cell
def _():
    import marimo as mo
    from dashboard_data import (
        RUN_PIPELINE,
        as_ints,
        chart,
        empty_state,
        fmt_money,
        live_metrics,
        live_status,
        refresh_snapshot,
        retention_table,
        to_major,
    )

    return (
        RUN_PIPELINE,
        as_ints,
        chart,
        empty_state,
        fmt_money,
        live_metrics,
        live_status,
        mo,
        refresh_snapshot,
        retention_table,
        to_major,
    )


@app.cell
def _(RUN_PIPELINE, empty_state, mo, refresh_snapshot):
    snap = refresh_snapshot()
    has_marts = not snap.query("SELECT 1 FROM mart_revenue_daily LIMIT 1").empty
    mo.vstack(
        [
            mo.md(f"# Shopflow analytics\n_Data: {snap.message}_"),
            mo.callout(mo.md(empty_state("analytics data", RUN_PIPELINE)), kind="warn")
            if not has_marts
            else mo.md(""),
        ]
    )
    return (snap,)


@app.cell
def _(RUN_PIPELINE, as_ints, chart, empty_state, fmt_money, mo, snap, to_major):
    def revenue_section(currency):
        daily = snap.query(
            """SELECT event_date, sum(orders) AS orders, sum(gross_minor) AS gross_minor,
                      sum(refunds_minor) AS refunds_minor, sum(net_minor) AS net_minor
               FROM mart_revenue_daily WHERE currency = ? GROUP BY ALL ORDER BY event_date""",
            [currency],
        )
        daily = as_ints(daily, ["orders"])
        by_category = snap.query(
            """SELECT category, sum(gross_minor) AS gross_minor, sum(net_minor) AS net_minor
               FROM mart_revenue_daily WHERE currency = ? GROUP BY ALL
               ORDER BY gross_minor DESC LIMIT 10""",
            [currency],
        )
        by_method = snap.query(
            """SELECT payment_method, sum(gross_minor) AS gross_minor, sum(net_minor) AS net_minor
               FROM mart_revenue_daily WHERE currency = ? GROUP BY ALL
               ORDER BY net_minor DESC""",
            [currency],
        )
        gross, refunds, net = (
            daily[c].sum() for c in ("gross_minor", "refunds_minor", "net_minor")
        )
        orders = int(daily["orders"].sum())
        unit = f"amount ({currency})"
        gross_col, net_col = f"gross ({currency})", f"net ({currency})"
        table = daily.assign(
            **{
                c: daily[f"{c}_minor"].map(lambda v: fmt_money(v, currency))
                for c in ("gross", "refunds", "net")
            }
        )[["event_date", "orders", "gross", "refunds", "net"]]
        table["event_date"] = table["event_date"].dt.strftime("%Y-%m-%d")
        return mo.vstack(
            [
                mo.md(
                    f"### {currency}\n**Gross {fmt_money(gross, currency)}** · refunds "
                    f"{fmt_money(refunds, currency)} · **net {fmt_money(net, currency)}** "
                    f"from {orders:,} orders"
                ),
                mo.Html(
                    chart(
                        to_major(daily, currency),
                        "event_date",
                        [gross_col, net_col],
                        title=f"Revenue per day ({currency})",
                        ylabel=unit,
                    )
                ),
                mo.hstack(
                    [
                        mo.Html(
                            chart(
                                to_major(by_category, currency),
                                "category",
                                [gross_col, net_col],
                                "bar",
                                f"Revenue by category ({currency})",
                                unit,
                                width=4.8,
                            )
                        ),
                        mo.Html(
                            chart(
                                to_major(by_method, currency),
                                "payment_method",
                                [gross_col, net_col],
                                "bar",
                                f"Revenue by payment method ({currency})",
                                unit,
                                width=4.8,
                            )
                        ),
                    ]
                ),
                mo.ui.table(table, selection=None, label=f"Revenue per day ({currency})"),
            ]
        )

    currencies = snap.query("SELECT DISTINCT currency FROM mart_revenue_daily ORDER BY 1")
    mo.vstack(
        [
            mo.md("## Revenue (gross = orders placed, net = after refunds)"),
            *(
                [revenue_section(c) for c in currencies["currency"]]
                if not currencies.empty
                else [mo.md(empty_state("revenue", RUN_PIPELINE))]
            ),
        ]
    )
    return


@app.cell
def _(RUN_PIPELINE, as_ints, chart, empty_state, mo, snap):
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
        """SELECT traffic_source, sum(sessions) AS sessions, sum(paid_sessions) AS paid_sessions,
                  round(100 * sum(paid_sessions) / sum(sessions), 2) AS "conversion %"
           FROM mart_funnel_daily GROUP BY ALL ORDER BY sessions DESC"""
    )
    mo.vstack(
        [mo.md("## Funnel"), mo.md(empty_state("sessions", RUN_PIPELINE))]
        if steps.empty
        else [
            mo.md("## Funnel"),
            mo.Html(
                chart(
                    as_ints(steps, ["sessions"]),
                    "step",
                    ["sessions"],
                    "bar",
                    "Sessions reaching each step",
                    "sessions",
                )
            ),
            mo.ui.table(
                as_ints(by_source, ["sessions", "paid_sessions"]),
                selection=None,
                label="Conversion by traffic source",
            ),
        ]
    )
    return


@app.cell
def _(RUN_PIPELINE, empty_state, mo, retention_table, snap):
    cohorts = retention_table(
        snap.query(
            """SELECT cohort_week, cohort_users, week_number, retention_rate
               FROM mart_cohort_retention_weekly ORDER BY cohort_week, week_number"""
        )
    )
    mo.vstack(
        [
            mo.md(
                "## Weekly cohort retention\nShare of each cohort active N weeks later; "
                "an empty cell is a week the cohort has not reached yet."
            ),
            mo.ui.table(cohorts, selection=None)
            if not cohorts.empty
            else mo.md(empty_state("cohorts", RUN_PIPELINE)),
        ]
    )
    return


@app.cell
def _(RUN_PIPELINE, as_ints, chart, empty_state, mo, snap):
    products = snap.query(
        """SELECT coalesce(i.title, '(no title)') AS title, p.item_id, sum(p.views) AS views,
                  sum(p.units_purchased) AS units_purchased,
                  round(100 * sum(p.buyers) / nullif(sum(p.viewers), 0), 2)
                      AS "buyers per 100 viewers"
           FROM mart_product_daily p LEFT JOIN dim_items i USING (item_id)
           GROUP BY ALL ORDER BY views DESC, p.item_id LIMIT 10"""
    )
    products = as_ints(products, ["views", "units_purchased"])
    mo.vstack(
        [mo.md("## Top products"), mo.md(empty_state("product views", RUN_PIPELINE))]
        if products.empty
        else [
            mo.md("## Top products"),
            mo.Html(
                chart(
                    products.assign(product=products["title"] + " (" + products["item_id"] + ")"),
                    "product",
                    ["views", "units_purchased"],
                    "bar",
                    "Top products by views",
                    "count",
                )
            ),
            mo.ui.table(products.fillna({"buyers per 100 viewers": 0}), selection=None),
        ]
    )
    return


@app.cell
def _(chart, live_metrics, live_status, mo):
    live = live_metrics()
    running, note = live_status(live)
    mo.vstack(
        [
            mo.md("## Live (last hour, from Redis)"),
            mo.callout(mo.md(note), kind="success" if running else "warn"),
            mo.Html(
                chart(
                    live,
                    "minute",
                    ["orders", "paid_orders", "active_users"],
                    title="Orders placed, orders paid and active users per minute",
                    ylabel="count",
                )
            )
            if running
            else mo.md(""),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
