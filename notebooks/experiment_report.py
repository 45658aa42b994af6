"""A/B experiment report: variants, intervals, SRM and verdict from ``experiment_results``
(written by the Dagster asset) and recommendation performance per variant (mart_recs_daily).
A shop with no experiment configured is told so (and how to add one), apart from an experiment
that has no results yet."""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Shopflow experiments")


@app.cell
def _():
    import marimo as mo
    from dashboard_data import (
        RUN_PIPELINE,
        chart,
        configured_experiments,
        exposures_over_time,
        metric_table,
        refresh_snapshot,
        to_major,
    )

    return (
        RUN_PIPELINE,
        chart,
        configured_experiments,
        exposures_over_time,
        metric_table,
        mo,
        refresh_snapshot,
        to_major,
    )


@app.cell
def _(configured_experiments, mo, refresh_snapshot):
    snap = refresh_snapshot()
    results = snap.query(
        "SELECT * FROM experiment_results ORDER BY experiment_key, is_control DESC, variant"
    )
    currencies = snap.query("SELECT DISTINCT currency FROM mart_revenue_daily")
    currency = currencies["currency"].iloc[0] if len(currencies) == 1 else ""
    configured, config_note = configured_experiments()
    mo.vstack(
        [
            mo.md(f"# Experiments\n_Data: {snap.message}_"),
            mo.callout(mo.md(config_note), kind="info" if configured else "warn")
            if config_note
            else mo.md(""),
        ]
    )
    return configured, currency, results, snap


@app.cell
def _(RUN_PIPELINE, chart, configured, currency, mo, results):
    def f(value, spec=".2%", scale=1.0):
        """Format a number; '-' when the engine had too little data to compute it."""
        if value is None or value != value:
            return "-"
        return format(value / scale, spec)

    def adjusted(r):
        """The p-value adjusted for several treatments (results written before lack it)."""
        method = getattr(r, "correction", "none")
        if method in (None, "none"):
            return ""
        return f", {method}-adjusted {f(r.conversion_p_adjusted, '.3g')}"

    def section(key, rows):
        srm = bool(rows["srm_flag"].any())
        lines = [f"## {key}"]
        if srm:
            lines.append(
                f"**Sample ratio mismatch** (p = {f(rows['srm_p_value'].iloc[0], '.2g')}): "
                "assignment or logging is broken; do not trust these results."
            )
        for r in rows.itertuples():
            head = f"- **{r.variant}** ({'control, ' if r.is_control else ''}{r.strategy}): "
            head += f"{r.users} users, conversion {f(r.conversion_rate)}, "
            head += f"revenue/user {f(r.revenue_per_user, '.2f', 100)} {currency}"
            if not r.is_control:
                head += (
                    f"; conversion diff {f(r.conversion_diff, '+.2%')} (95% CI "
                    f"[{f(r.conversion_ci_low, '+.2%')}, {f(r.conversion_ci_high, '+.2%')}], "
                    f"p = {f(r.conversion_p_value, '.3g')}{adjusted(r)}); chance to beat control "
                    f"{f(r.chance_to_beat_control, '.1%')}; revenue/user diff "
                    f"{f(r.rpu_diff, '+.2f', 100)} {currency} "
                    f"(CUPED {f(r.rpu_cuped_diff, '+.2f', 100)}, CI "
                    f"[{f(r.rpu_cuped_ci_low, '+.2f', 100)}, {f(r.rpu_cuped_ci_high, '+.2f', 100)}])"
                )
            lines.append(f"{head} → **{r.verdict}**")
        return mo.vstack(
            [
                mo.md("\n".join(lines)),
                mo.Html(
                    chart(rows, "variant", ["conversion_rate"], "bar", f"{key}: conversion rate")
                ),
            ]
        )

    def pending(key):
        return mo.md(
            f"## {key}\n_No results yet for `{key}`._ It needs exposures and orders: run "
            f"{RUN_PIPELINE} (the `experiment_results` asset computes them)."
        )

    with_results = set(results["experiment_key"]) if not results.empty else set()
    sections = (
        [section(k, g) for k, g in results.groupby("experiment_key", sort=True)]
        if with_results
        else []
    )
    sections += [pending(e.key) for e in configured if e.key not in with_results]
    mo.vstack(sections) if sections else mo.md("")
    return


@app.cell
def _(chart, exposures_over_time, metric_table, mo, snap):
    by_metric = snap.query(
        "SELECT * FROM experiment_metric_results ORDER BY experiment_key, metric, variant"
    )
    daily = snap.query("SELECT * FROM experiment_exposures_daily ORDER BY day")

    def verdict_note(verdict):
        if verdict.startswith("ship"):
            return f"**Verdict: {verdict}**: the treatment wins the primary metric."
        if verdict.startswith("stop"):
            return f"**Verdict: {verdict}**: end the experiment and keep control."
        return f"**Verdict: {verdict}**: no metric has decided yet; peeking is safe."

    def results_section(key, rows):
        srm_p = rows["srm_p_value"].iloc[0]
        srm = (
            f"SRM: **mismatch** (p = {srm_p:.2g}); assignment or logging is broken"
            if bool(rows["srm_flag"].any())
            else f"SRM: ok (p = {srm_p:.2g})"
        )
        verdict = rows["verdict"].iloc[0]
        arms = exposures_over_time(daily[daily["experiment_key"] == key])
        variants = [c for c in arms.columns if c != "day"]
        return mo.vstack(
            [
                mo.md(f"### {key}\n{verdict_note(verdict)}  \n{srm}"),
                mo.Html(chart(arms, "day", variants, "line", f"{key}: exposures per arm",
                              "users exposed (cumulative)")),
                mo.ui.table(metric_table(rows), selection=None, page_size=20),
            ]
        )  # fmt: skip

    _sections = [
        results_section(k, g) for k, g in by_metric.groupby("experiment_key", sort=True)
    ] if not by_metric.empty else []  # fmt: skip
    mo.vstack(
        [
            mo.md(
                "## Results by metric\nEvery declared metric for every running experiment: "
                "lift with its fixed-horizon and sequential (always-valid) interval."
            ),
            *_sections,
        ]
        if _sections
        else [mo.md("## Results by metric\n_No metric results yet._")]
    )
    return


@app.cell
def _(chart, configured, currency, mo, snap, to_major):
    recs = snap.query(
        """SELECT experiment_key || ' / ' || variant AS arm, sum(impressions) AS impressions,
                  sum(clicks) AS clicks, round(sum(clicks) / nullif(sum(impressions), 0), 4) AS ctr,
                  sum(attributed_revenue_minor) AS attributed_revenue_minor
           FROM mart_recs_daily GROUP BY ALL ORDER BY arm"""
    )
    for col in ("impressions", "clicks"):
        if col in recs.columns:
            recs[col] = recs[col].fillna(0).astype("int64")
    mo.vstack(
        [
            mo.md("## Recommendations per variant"),
            mo.Html(chart(recs, "arm", ["ctr"], "bar", "CTR per variant", "click-through rate")),
            mo.ui.table(to_major(recs.fillna({"ctr": 0.0}), currency), selection=None),
        ]
        if not recs.empty
        else [mo.md("")]
        if not configured
        else [
            mo.md("## Recommendations per variant"),
            mo.md("_No recommendation impressions logged per variant yet._"),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
