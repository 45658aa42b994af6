"""``experiment_results``: per experiment and variant, users, conversions, CTR, revenue per
user, tests against control, chance to beat control, SRM and CUPED (shopflow.experiments);
and every declared metric for every running experiment with fixed and sequential intervals
and a verdict (``experiment_metric_results``), plus exposures per arm and day."""

import dagster as dg

from pipelines.resources import WarehouseResource
from shopflow.config import get_settings
from shopflow.experiments import ExperimentsConfig, load_experiments


class ExperimentsResource(dg.ConfigurableResource):
    """The experiments file; empty ``path`` means ``Settings.experiments_file``."""

    path: str = ""

    def load(self) -> ExperimentsConfig:
        return load_experiments(self.path or get_settings().experiments_file)


def _fmt(value: object) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


COLUMNS = (
    "experiment_key", "variant", "users", "conversion_rate", "ctr", "revenue_per_user",
    "conversion_p_value", "conversion_p_adjusted", "correction", "chance_to_beat_control",
    "rpu_cuped_diff", "srm_p_value", "verdict",
)  # fmt: skip


@dg.asset(
    deps=[dg.AssetKey("fct_experiment_users")],
    group_name="experiments",
    description="A/B results per experiment and variant, written to main.experiment_results.",
)
def experiment_results(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    experiments: ExperimentsResource,
) -> dg.MaterializeResult:
    from shopflow.experiments import metric_results as mr  # scipy: lazy
    from shopflow.experiments.results import compute_results, write_results

    config = experiments.load()
    with warehouse.connect() as con:
        results = compute_results(con, config)
        written = write_results(con, results)
        by_metric = mr.compute_metric_results(con, config)
        mr.write_table(con, mr.METRICS_TABLE, by_metric)
        mr.write_table(con, mr.DAILY_TABLE, mr.daily_exposures(con))
    verdicts = (
        by_metric.groupby("experiment_key")["verdict"].first().to_dict()
        if not by_metric.empty
        else {}
    )
    if written == 0 and not verdicts:
        context.log.info("no experiment has exposed users yet")
        return dg.MaterializeResult(metadata={"rows": 0})
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in results.to_dict("records") if written else []:
        lines.append("| " + " | ".join(_fmt(row[c]) for c in COLUMNS) + " |")
    srm = sorted(set(results.loc[results["srm_flag"], "experiment_key"])) if written else []
    if srm:
        context.log.warning(f"sample ratio mismatch in: {', '.join(srm)}")
    return dg.MaterializeResult(
        metadata={
            "rows": written,
            "metric_rows": len(by_metric),
            "verdicts": ", ".join(f"{k}: {v}" for k, v in sorted(verdicts.items())) or "none",
            "experiments": len(verdicts) or (results["experiment_key"].nunique() if written else 0),
            "srm_flagged": ", ".join(srm) or "none",
            "results": dg.MetadataValue.md("\n".join(lines)),
        }
    )


ASSETS = [experiment_results]
RESOURCES = {"experiments": ExperimentsResource()}
