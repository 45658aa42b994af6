"""Root sampling that a caller may decide ahead: the API's gate (``serving.trace_gate``) draws
whether a request is traced before any tracing code runs, so an untraced request skips the
instrumentation; the server span it opens, or the spans of an untraced request, then take
that decision. Anything else that starts a trace is sampled by trace id at the ratio."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar, Token

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

_decided: ContextVar[bool | None] = ContextVar("shopflow_trace_decided", default=None)


def decide(sampled: bool) -> Token[bool | None]:
    """Traces started from here on (in this context) are sampled as ``sampled`` says."""
    return _decided.set(sampled)


def undecide(token: Token[bool | None]) -> None:
    _decided.reset(token)


class DecidedAhead(Sampler):
    """The decision made ahead (``decide``) if any, else ``TraceIdRatioBased(ratio)``."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        decided = _decided.get()
        if decided is None:
            return self._ratio.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        parent_state = get_current_span(parent_context).get_span_context().trace_state
        if decided:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent_state)
        return SamplingResult(Decision.DROP, None, parent_state)

    def get_description(self) -> str:
        return f"DecidedAhead{{{self._ratio.get_description()}}}"


def sampler(ratio: float) -> Sampler:
    """Children follow their parent; a root takes the decision made ahead, or the ratio."""
    return ParentBased(DecidedAhead(ratio))
