"""Recommender model report: evaluation history from MLflow (runs, metrics over time) and the
registered models' aliases."""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Shopflow models")


@app.cell
def _():
    import marimo as mo
    from dashboard_data import chart

    from shopflow.config import get_settings

    return chart, get_settings, mo


@app.cell
def _(get_settings):
    def evaluation_runs():
        """All runs of the recommender experiment, oldest first; empty without MLflow data."""
        import mlflow
        import pandas as pd

        settings = get_settings()
        if not settings.mlflow_tracking_uri and not (settings.home_dir / "mlflow.db").exists():
            return pd.DataFrame(), "no MLflow store yet: train a model first"
        mlflow.set_tracking_uri(settings.mlflow_uri)
        runs = mlflow.search_runs(experiment_names=[settings.mlflow_experiment])
        if runs.empty:
            return runs, "no runs yet"
        return runs.sort_values("start_time"), f"{len(runs)} runs in {settings.mlflow_experiment}"

    runs, status = evaluation_runs()
    return runs, status


@app.cell
def _(chart, mo, runs, status):
    metrics = [c for c in runs.columns if c.startswith("metrics.")] if not runs.empty else []
    shown = [m for m in metrics if any(k in m for k in ("precision", "recall", "ndcg", "map"))][:4]
    shown = shown or metrics[:4]
    history = (
        runs[["start_time", *shown]].rename(columns=lambda c: c.removeprefix("metrics."))
        if shown
        else runs
    )
    model_col = "tags.mlflow.runName" if "tags.mlflow.runName" in runs.columns else None
    table_cols = [c for c in ["start_time", model_col, *metrics] if c]
    mo.vstack(
        [
            mo.md(f"# Model report\n_{status}_"),
            mo.Html(
                chart(
                    history,
                    "start_time",
                    [m.removeprefix("metrics.") for m in shown],
                    title="Evaluation history",
                )
            )
            if shown
            else mo.md("_no evaluation metrics logged yet_"),
            mo.ui.table(runs[table_cols], selection=None)
            if table_cols and not runs.empty
            else mo.md(""),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
