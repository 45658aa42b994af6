"""Recommender model report from MLflow: the models of each training run side by side with
their registered aliases (``champion``...), and the tuning trials on their own chart."""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Shopflow models")


@app.cell
def _():
    import marimo as mo
    from dashboard_data import RUN_TRAINING, chart, empty_state
    from model_data import (
        aliases_by_run,
        cutoff,
        mlflow_runs,
        model_comparison,
        registered_aliases,
        side_by_side,
        tuning_trials,
    )

    return (
        RUN_TRAINING,
        aliases_by_run,
        chart,
        cutoff,
        empty_state,
        mlflow_runs,
        mo,
        model_comparison,
        registered_aliases,
        side_by_side,
        tuning_trials,
    )


@app.cell
def _(aliases_by_run, cutoff, mlflow_runs, model_comparison, registered_aliases):
    runs = mlflow_runs()
    aliases = registered_aliases()
    k = cutoff(runs)
    comparison = model_comparison(runs, aliases_by_run(aliases))
    return aliases, comparison, k, runs


@app.cell
def _(RUN_TRAINING, aliases, chart, comparison, empty_state, k, mo, side_by_side):
    metric = f"test ndcg@{k}"
    if comparison.empty:
        body = [mo.callout(mo.md(empty_state("trained models", RUN_TRAINING)), kind="warn")]
    else:
        latest = comparison[comparison["training run"] == comparison["training run"].iloc[-1]]
        champion = aliases[aliases["alias"] == "champion"] if not aliases.empty else aliases
        serving = (
            f"Serving: **{champion.iloc[0]['registered model']}@champion** = version "
            f"{champion.iloc[0]['version']} ({champion.iloc[0]['model type']})"
            if not champion.empty
            else "No champion registered yet."
        )
        body = [
            mo.md(
                f"{comparison['training run'].nunique()} training runs, "
                f"{len(comparison)} trained models. {serving}"
            ),
            mo.Html(
                chart(
                    side_by_side(comparison, metric),
                    "training run",
                    sorted(comparison["model"].unique()),
                    "bar",
                    f"Models side by side per training run ({metric} on the test split)",
                    metric,
                )
            ),
            mo.md(f"### Latest training run: {latest['training run'].iloc[0]}"),
            mo.ui.table(
                latest.drop(columns=["started", "training run", "run_id"]).sort_values(
                    metric, ascending=False
                ),
                selection=None,
            ),
            mo.md("### Registered aliases"),
            mo.ui.table(aliases.drop(columns=["run_id"]), selection=None)
            if not aliases.empty
            else mo.md("_No alias set yet: the champion gate sets `champion` on a win._"),
            mo.md("### Every trained model"),
            mo.ui.table(
                comparison.drop(columns=["started", "run_id"]), selection=None, page_size=10
            ),
        ]
    mo.vstack([mo.md("# Model report"), *body])
    return


@app.cell
def _(chart, comparison, mo, tuning_trials, runs):
    trials = tuning_trials(runs, None if comparison.empty else comparison["started"].iloc[-1])
    mo.vstack(
        [
            mo.md(
                "## Tuning trials of the latest training run\n"
                "Validation NDCG of each trial, per model type (the chosen parameters are "
                "the best trial's)."
            ),
            mo.Html(
                chart(
                    trials,
                    "trial",
                    [c for c in trials.columns if c != "trial"],
                    title="Tuning trials",
                    ylabel="validation ndcg",
                )
            )
            if not trials.empty
            else mo.md(
                "_No tuning trials logged yet._"
                if comparison.empty
                else "_These runs tuned nothing (tuning is off or had no budget)._"
            ),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
