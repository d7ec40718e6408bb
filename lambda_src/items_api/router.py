"""A small router for API Gateway REST API (v1) proxy events: what the items API needs of one.

It answers as Powertools' ``APIGatewayRestResolver`` did for this API (the handler used it
before), so the API's answers are unchanged:

* a route matches the request's method (case-insensitive) and whole ``path``, trailing slashes
  ignored; ``<name>`` in a rule
  matches one segment of URI characters (letters, digits and ``-._~()'!*:@,;=+&$%<> []{}|^``) and
  is passed to the route as the keyword argument ``name``;
* a route returns a ``dict`` (200, JSON) or a ``Response``; a JSON body is serialized compactly;
* an exception a route (or the not-found handler) raises goes to the handler registered for the
  nearest class in its MRO; with none, it propagates;
* no route: with CORS, ``OPTIONS`` is answered as a preflight (204, ``Access-Control-Allow-Methods``
  listing the routes' methods); else the not-found handler answers;
* with CORS, an answer to a request whose ``Origin`` is allowed (or to any origin under ``*``) names
  it in ``Access-Control-Allow-Origin``, with ``Access-Control-Allow-Headers``;
* headers go out as ``multiValueHeaders``.

Powertools' resolver imports its AppSync, Bedrock and GraphQL resolvers and OpenAPI support on
every cold start, for nothing a REST proxy needs: this module keeps that time off the cold start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

JSON = "application/json"
#: What a ``<name>`` of a rule matches (the characters Powertools' resolver allows in a path parameter).
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
#: Always allowed request headers of a CORS answer, as Powertools' resolver sends them.
CORS_ALLOW_HEADERS = "Authorization,Content-Type,X-Amz-Date,X-Amz-Security-Token,X-Api-Key"

BodyT = TypeVar("BodyT")
ErrorT = TypeVar("ErrorT", bound=BaseException)


class Response(Generic[BodyT]):
    """An answer: status code, body (JSON-serialized when the content type is JSON and it is not text), headers."""

    def __init__(
        self,
        status_code: int,
        content_type: str | None = None,
        body: BodyT | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers) if headers else {}
        if content_type:
            self.headers.setdefault("Content-Type", content_type)


if TYPE_CHECKING:
    from typing import TypeAlias

    #: What a route returns: a JSON object (answered with 200) or a whole answer.
    RouteResult: TypeAlias = dict[str, Any] | Response[Any]


class Request:
    """The parts of a REST API proxy event the routes read."""

    def __init__(self, event: dict[str, Any]):
        self.raw_event = event
        self.method: str = event["httpMethod"].upper()
        self.path: str = event["path"]
        self.body: str | None = event.get("body")
        self.is_base64_encoded = bool(event.get("isBase64Encoded"))
        self.query_string_parameters: dict[str, str] = event.get("queryStringParameters") or {}

    @property
    def origin(self) -> str | None:
        """The ``Origin`` header (any case), from ``multiValueHeaders`` when the event has any, else ``headers``."""
        headers = self.raw_event.get("multiValueHeaders") or self.raw_event.get("headers") or {}
        value = {name.lower(): value for name, value in headers.items()}.get("origin")
        if isinstance(value, list):
            return value[0] if value else None
        return value if isinstance(value, str) else None


class Router:
    """Routes of one REST API: ``get``/``post``/``put``/``delete`` decorators, error handlers, ``resolve``."""

    def __init__(self, cors_allow_origins: list[str] | None = None):
        self.cors_allow_origins = list(cors_allow_origins or [])
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., RouteResult]]] = []
        self._error_handlers: dict[type[BaseException], Callable[[Any], Response[Any]]] = {}
        self._not_found: Callable[[], Response[Any]] | None = None
        self._current: Request | None = None

    @property
    def current_event(self) -> Request:
        """The request being resolved (only while ``resolve`` runs)."""
        if self._current is None:
            raise RuntimeError("no request is being resolved")
        return self._current

    def route(self, method: str, rule: str) -> Callable[[Callable[..., RouteResult]], Callable[..., RouteResult]]:
        pattern = re.compile("^" + re.sub(r"<(\w+)>", lambda name: f"(?P<{name[1]}>{_SEGMENT})", rule) + "/*$")

        def register(func: Callable[..., RouteResult]) -> Callable[..., RouteResult]:
            self._routes.append((method.upper(), pattern, func))
            return func

        return register

    def get(self, rule: str) -> Callable[[Callable[..., RouteResult]], Callable[..., RouteResult]]:
        return self.route("GET", rule)

    def post(self, rule: str) -> Callable[[Callable[..., RouteResult]], Callable[..., RouteResult]]:
        return self.route("POST", rule)

    def put(self, rule: str) -> Callable[[Callable[..., RouteResult]], Callable[..., RouteResult]]:
        return self.route("PUT", rule)

    def delete(self, rule: str) -> Callable[[Callable[..., RouteResult]], Callable[..., RouteResult]]:
        return self.route("DELETE", rule)

    def not_found(self, func: Callable[[], Response[Any]]) -> Callable[[], Response[Any]]:
        """Register the answer to a request no route matches (default: 404 ``Not found``)."""
        self._not_found = func
        return func

    def exception_handler(
        self, error_class: type[ErrorT]
    ) -> Callable[[Callable[[ErrorT], Response[Any]]], Callable[[ErrorT], Response[Any]]]:
        def register(func: Callable[[ErrorT], Response[Any]]) -> Callable[[ErrorT], Response[Any]]:
            self._error_handlers[error_class] = func
            return func

        return register

    def resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        """The proxy integration's answer to ``event``."""
        request = Request(event)
        self._current = request
        try:
            response = self._dispatch(request)
        finally:
            self._current = None
        return self._serialize(response, request)

    def _dispatch(self, request: Request) -> Response[Any]:
        for method, pattern, func in self._routes:
            match = pattern.match(request.path) if method == request.method else None
            if match:
                return self._call(func, match.groupdict())
        if self.cors_allow_origins and request.method == "OPTIONS":
            methods = ",".join(sorted({"OPTIONS", *(method for method, _, _ in self._routes)}))
            return Response(204, body="", headers={"Access-Control-Allow-Methods": methods})
        if self._not_found is not None:
            return self._call(self._not_found, {})
        return Response(404, JSON, {"statusCode": 404, "message": "Not found"})

    def _call(self, func: Callable[..., RouteResult], arguments: dict[str, str]) -> Response[Any]:
        try:
            result = func(**arguments)
        except Exception as error:
            handler = next((self._error_handlers[c] for c in type(error).__mro__ if c in self._error_handlers), None)
            if handler is None:
                raise
            return handler(error)
        return result if isinstance(result, Response) else Response(200, JSON, result)

    def _cors_headers(self, request: Request) -> dict[str, str]:
        origin = request.origin
        if not self.cors_allow_origins or origin is None:
            return {}
        if origin not in self.cors_allow_origins:
            if "*" not in self.cors_allow_origins:
                return {}
            origin = "*"
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS}

    def _serialize(self, response: Response[Any], request: Request) -> dict[str, Any]:
        body = response.body
        if response.headers.get("Content-Type", "").startswith(JSON) and not isinstance(body, str):
            body = json.dumps(body, separators=(",", ":"))
        headers = {**response.headers, **self._cors_headers(request)}
        return {
            "statusCode": response.status_code,
            "body": body,
            "isBase64Encoded": False,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
        }
