"""A fast lane for hot endpoints: answered ahead of FastAPI's routing and dependency solving.

FastAPI walks every route of every router before it reaches a late one, then solves each
dependency and parameter per request; for an endpoint that answers in a fraction of a millisecond
that plumbing costs more than the work. A ``Lane`` serves one ``APIRoute`` as a pure ASGI
handler: it matches the route's own path regex, validates the path and query parameters with the
route's own fields (so the endpoint signature stays the one home of the rules, and of the
OpenAPI document) and calls a handler with the values and the app state.

A POST route with one JSON body model (optional or not) gets a lane too: the lane reads the
body, parses it and validates it with the route's own body field. A POST route that reads its
body itself (``Request.body()``, e.g. ``POST /events``) gets one with ``raw_body``: the handler
gets the bytes as ``values["body"]``. Header parameters (e.g. ``Idempotency-Key``) are read
and validated by FastAPI's own function, so their aliases and rules stay FastAPI's. A handler
answers with the JSON body (the route's status) or a whole ``Response`` (its own status and
headers).

Whatever a lane does not take as it is (an invalid or repeated parameter, a body that is not
valid JSON for the model, a root path, another method) goes on to FastAPI, which answers exactly
as before, errors included (a body the lane read is handed on as it came). A domain error a
handler raises goes to the app's exception handlers, like one raised in an endpoint.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.datastructures import Headers, State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce.auth import Principal
from serving.security import identity

log = logging.getLogger(__name__)

Handler = Callable[[State, dict[str, Any]], Awaitable[bytes | Response]]
"""Takes the app state and the validated parameters by name; returns the JSON body (sent with
the route's status) or a whole response."""
Authorizer = Callable[[State, str | None, dict[str, Any]], Awaitable[Principal]]
"""Takes the app state, the ``Authorization`` header and the parameters; raises a domain error
(401/403) when the caller may not have the answer. Runs before the handler."""

JSON_HEADERS = [(b"content-type", b"application/json")]
_SCALARS = (str, int, float, bool, NoneType)


def _options(annotation: Any) -> tuple[Any, ...]:
    """The types a parameter may take: a union's members, each without ``Annotated``."""
    args = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return tuple(get_args(a)[0] if get_origin(a) is Annotated else a for a in args)


def _scalar(annotation: Any) -> bool:
    """Whether a parameter is one plain value (str, int, float, bool, or a ``Literal`` of
    them; optional or not)."""
    return all(
        arg in _SCALARS
        or (get_origin(arg) is Literal and all(type(v) in _SCALARS for v in get_args(arg)))
        for arg in _options(annotation)
    )


def _scalar_list(annotation: Any) -> bool:
    """Whether a parameter is a list of plain values, optional or not (a query parameter
    given once per value, as FastAPI reads it)."""
    options = [arg for arg in _options(annotation) if arg is not NoneType]
    return len(options) == 1 and get_origin(options[0]) is list and _scalar(options[0].__args__[0])


def _json_body(content_type: bytes | None) -> bool:
    """Whether FastAPI reads a body of this content type as JSON the way ``orjson`` does."""
    media = (content_type or b"").partition(b";")[0].strip().lower()
    return media == b"application/json"


@dataclass
class Lane:
    """One GET route, or a POST route with one JSON body model (or raw bytes), served by
    ``handler``;
    ``provides``: the route's dependencies the handler resolves itself from the app state (a
    route with any other dependency gets no lane)."""

    route: APIRoute
    handler: Handler
    provides: frozenset[Callable[..., Any]] = frozenset()
    authorize: Authorizer | None = None
    """The route's auth dependency, done by the lane (the same rule, its own path)."""
    raw_body: bool = False
    """A POST route that reads its body itself: the handler gets the bytes, as they came."""
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.prefix = self.route.path_format.partition("{")[0]
        dependant = self.route.dependant
        self.method = next(iter(self.route.methods or {"GET"}))
        self.status = self.route.status_code or 200
        self.body = dependant.body_params[0] if len(dependant.body_params) == 1 else None
        convertors = self.route.param_convertors
        self._path = [(f, convertors[f.alias], ("path", f.alias)) for f in dependant.path_params]
        self._query = [
            (f, f.alias, ("query", f.alias), f.field_info.is_required(), f.default)
            for f in dependant.query_params
        ]
        self._lists = frozenset(
            f.alias for f in dependant.query_params if _scalar_list(f.field_info.annotation)
        )
        self.header_params = dependant.header_params

    def problems(self, app: FastAPI) -> list[str]:
        """Why this lane would answer differently from the route (empty: it may serve it)."""
        dependant, found = self.route.dependant, []
        if self.route.methods not in ({"GET"}, {"POST"}):
            found.append(f"methods {sorted(self.route.methods or [])}")
        if dependant.cookie_params:
            found.append("cookie parameters")
        for f in dependant.header_params:
            if not _scalar(f.field_info.annotation):
                found.append(f"header {f.alias!r} is not one plain value")
        if self.route.methods == {"GET"} and dependant.body_params:
            found.append("a body on a GET")
        raw = self.raw_body and not dependant.body_params
        if self.route.methods == {"POST"} and not (raw or self._one_model_body()):
            found.append("a body other than one JSON model (or raw bytes, with raw_body)")
        for f in [*dependant.path_params, *dependant.query_params]:
            info = f.field_info
            plain = _scalar(info.annotation) or f.alias in self._lists
            if not plain or f.validation_alias or info.validate_default:
                found.append(f"parameter {f.name!r} is not a plain value or a list of them")
        calls = {d.call for d in dependant.dependencies}
        if not calls <= self.provides or app.router.dependencies or app.dependency_overrides:
            found.append("dependencies the lane does not provide")
        if self.authorize is None and _secured(dependant):
            found.append("a credential check the lane does not do (no authorize)")
        example = {name: "x" for name in self.route.param_convertors}
        if str(app.url_path_for(self.route.name, **example)) != self.route.path_format.format(
            **example
        ):
            found.append("the route is mounted under a prefix")
        return found

    def _one_model_body(self) -> bool:
        """One body parameter, a model or an optional model, not embedded."""
        if self.body is None or self.route.body_field is None:
            return False
        models = [a for a in _options(self.body.field_info.annotation) if a is not NoneType]
        embedded = getattr(self.body.field_info, "embed", False)
        one = len(models) == 1 and isinstance(models[0], type)
        return one and issubclass(models[0], BaseModel) and not embedded

    def header_values(self, scope: Scope, values: dict[str, Any]) -> bool:
        """Put the validated header parameters in ``values`` (FastAPI's own reading); False
        when FastAPI should answer instead."""
        found, errors = request_params_to_args(self.header_params, Headers(scope=scope))
        if errors:
            return False
        values.update(found)
        return True

    def body_value(self, raw: bytes, values: dict[str, Any]) -> bool:
        """Put the validated body in ``values``; False when FastAPI should answer instead."""
        assert self.body is not None
        if not raw:  # no body: an optional one takes its default, as FastAPI gives it
            info = self.body.field_info
            if info.is_required() or type(info.default) not in _SCALARS:
                return False
            values[self.body.name] = info.default
            return True
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return False
        value, errors = self.body.validate(data, values, loc=("body",))
        if errors:
            return False
        values[self.body.name] = value
        return True

    def values(self, path: str, query_string: bytes) -> dict[str, Any] | None:
        """The handler's parameters, or None when FastAPI should answer instead."""
        match = self.route.path_regex.match(path)
        if match is None:
            return None
        values: dict[str, Any] = {}
        raw = match.groupdict()
        for f, convertor, loc in self._path:
            value, errors = f.validate(convertor.convert(raw[loc[1]]), values, loc=loc)
            if errors:
                return None
            values[f.name] = value
        query: dict[str, Any] = {}
        for key, text in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if key in self._lists:
                query.setdefault(key, []).append(text)
            elif key in query:
                return None  # a repeated parameter
            else:
                query[key] = text
        for f, alias, loc, required, default in self._query:
            given = query.get(alias)
            if given is None:
                if required:
                    return None
                values[f.name] = default if type(default) in _SCALARS else copy.deepcopy(default)
                continue
            value, errors = f.validate(given, values, loc=loc)
            if errors:
                return None
            values[f.name] = value
        return values


class FastLanes:
    """ASGI wrapper of the router: requests a lane takes are answered here, the rest pass on."""

    def __init__(self, app: ASGIApp, state: State, lanes: Iterable[Lane]) -> None:
        self.app = app
        self.state = state
        self.lanes = list(lanes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            path, method = scope["path"], scope["method"]
            for lane in self.lanes:
                if lane.method != method or not path.startswith(lane.prefix):
                    continue
                values = lane.values(path, scope["query_string"])
                if values is None:
                    continue
                if lane.header_params and not lane.header_values(scope, values):
                    continue
                if lane.body is not None or lane.raw_body:
                    values, receive = await self._with_body(lane, values, scope, receive)
                    if values is None:
                        break  # the body is read: FastAPI answers from the replay
                scope["route"] = lane.route  # as routing sets it (metrics labels)
                scope["path_params"] = {k: values[k] for k in lane.route.param_convertors}
                await self._answer(lane, values, scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _with_body(
        lane: Lane, values: dict[str, Any], scope: Scope, receive: Receive
    ) -> tuple[dict[str, Any] | None, Receive]:
        """The values with the validated body (None: FastAPI answers) and a ``receive`` that
        hands FastAPI the body as it came."""
        content_type = _header(scope, b"content-type")
        json_body = _json_body(content_type)
        if not lane.raw_body and not json_body and content_type is not None:
            return None, receive
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left: FastAPI sees it too
                return None, _replay([], message, receive)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        if lane.raw_body:
            values["body"] = raw
            return values, receive
        # no content type: only an absent body (FastAPI reads any other as JSON)
        if (json_body or not raw) and lane.body_value(raw, values):
            return values, receive
        return None, _replay([raw], None, receive)

    async def _answer(
        self, lane: Lane, values: dict[str, Any], scope: Scope, receive: Receive, send: Send
    ) -> None:
        try:
            if lane.authorize is not None:
                principal = await lane.authorize(self.state, _authorization(scope), values)
                identity.remember(scope, principal)
            answer = await lane.handler(self.state, values)
        except Exception as exc:
            error = exc

            async def failed(scope: Scope, receive: Receive, send: Send) -> None:
                raise error

            await wrap_app_handling_exceptions(failed, Request(scope, receive))(
                scope, receive, send
            )
            return
        if isinstance(answer, Response):
            await answer(scope, receive, send)
            return
        headers = [*JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": lane.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


def _secured(dependant: Dependant) -> bool:
    """Whether a route's dependencies read a credential (a FastAPI security scheme)."""
    for dep in dependant.dependencies:
        call: object = dep.call  # a scheme is a callable instance, typed as a plain callable
        if isinstance(call, SecurityBase) or _secured(dep):
            return True
    return False


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value
    return None


def _authorization(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    return value.decode("latin-1") if value is not None else None


def _replay(chunks: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that first hands on what the lane read (the body, or a disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}] if chunks else []
    if last is not None:
        pending.append(last)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def install(app: FastAPI, lanes: Iterable[Lane]) -> None:
    """Serve ``lanes`` ahead of the app's router (call at start-up, after the routes exist).
    A lane whose route it cannot serve exactly as FastAPI would is left out, with a warning."""
    from serving import metrics as realtime_metrics

    usable = []
    for lane in lanes:
        problems = lane.problems(app)
        if problems:
            log.warning("no fast lane for %s: %s", lane.route.path, "; ".join(problems))
        else:
            usable.append(lane)
    if usable:
        realtime_metrics.wrap_inside(app.router, lambda inner: FastLanes(inner, app.state, usable))
