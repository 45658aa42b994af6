"""Email subject experiments: a workflow's ``subject_feature`` names a feature in
``experiments.yaml`` whose string value (``{field}`` placeholders filled from the event) is the
subject; an experiment rule on that feature picks the variant per user, and the exposure goes
to the exposure stream (``rec_impression``) through the outbox."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from shopflow import events
from shopflow.experiments import ExperimentsFileError
from shopflow.experiments.evaluate import current_evaluator

log = logging.getLogger(__name__)


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def subject_variant(
    feature: str, user_id: str, context: dict[str, Any]
) -> tuple[dict[str, Any], events.RecImpression | None]:
    """The context with ``subject_line`` set from the feature, and the exposure to log (None
    outside an experiment). A broken experiments file or an unknown feature leaves the
    template's own subject: notifications never wait on experiments."""
    try:
        evaluator = current_evaluator()
    except ExperimentsFileError as exc:
        log.warning("subject experiments off: %s", exc)
        return context, None
    if feature not in evaluator.features:
        return context, None
    result = evaluator.evaluate(feature, {"id": user_id, **context})
    out = {**context, "subject_line": str(result.value).format_map(_Keep(context))}
    if result.experiment is None:
        return out, None
    e = result.experiment
    out["experiment"] = {"key": e.experiment_key, "variant": e.variation_key}
    exposure = events.RecImpression(
        request_id=uuid.uuid4().hex, item_ids=[], model_name="feature", model_version="-",
        placement=f"feature:{feature}", experiment_key=e.experiment_key, variant=e.variation_key,
    )  # fmt: skip
    return out, exposure
