"""API Gateway REST APIs of a local run, served over HTTP on 127.0.0.1.

:func:`build_apis` reads every ``AWS::ApiGateway::RestApi`` of the provisioned stacks into a
:class:`LocalApi` (resource tree, methods, authorizers, validators, models, integrations, stage);
:class:`ApiServer` serves one of them. A request goes through the steps API Gateway takes, in its
order, and fails the way API Gateway fails it, so that a client or a handler behaves locally as it
will once deployed:

1. route: the stage is the first path segment (``/prod/items/1``); an unknown stage is
   ``403 {"message": "Forbidden"}``, an unknown path or method ``403 {"message": "Missing
   Authentication Token"}``. Literal segments win over ``{param}``, which wins over ``{proxy+}``.
2. authorization: ``COGNITO_USER_POOLS`` verifies the JWT (``Bearer `` prefix optional) against the
   pool's JWKS on the local endpoint: a method with ``AuthorizationScopes`` wants an access token
   holding one of them, a method without wants an ID token; anything else is ``401 Unauthorized``
   (``The incoming token has expired`` once expired). ``AWS_IAM`` wants a SigV4-shaped
   ``Authorization`` header but does not check the signature. ``CUSTOM`` (Lambda ``TOKEN`` and
   ``REQUEST`` authorizers) invokes the authorizer function, caches its answer for
   ``AuthorizerResultTtlInSeconds`` and evaluates its policy against the method ARN.
3. request validation: required parameters, then the body against the JSON-Schema model for the
   request's content type (``400`` either way; the function is not invoked).
4. integration: ``AWS_PROXY`` builds the REST (payload 1.0) proxy event, invokes the function and
   maps its response: ``502`` for a function error (its own timeout included) or a malformed
   response, ``504`` when no answer comes within the integration timeout (29 s unless
   ``TimeoutInMillis`` says otherwise). ``MOCK`` answers from the integration response with its
   static header values (CORS preflight). ``AWS`` service integrations are served by the modules
   ``gateway_services`` lists for their action (Kinesis ``PutRecords``: ``gateway_kinesis``), or by
   the action's own module when it answers itself (``gateway_stepfunctions``: ``StartExecution``).
5. API Gateway's own answers (the 4XX/5XX of the steps above) take the status and headers of the
   API's ``AWS::ApiGateway::GatewayResponse`` for their type, else of ``DEFAULT_4XX``/``DEFAULT_5XX``
   (static values and ``method.request.*`` mappings, e.g. CORS headers).

One module per step: ``gateway_reader`` (template -> :class:`LocalApi`, types in ``gateway_model``),
``gateway_routing``, ``gateway_auth``, ``gateway_validation``, ``gateway_proxy`` and
``gateway_responses`` (API Gateway's own answers); this module ties them into the WSGI application.

Not reproduced: VTL mapping templates (beyond the service integrations above), other non-proxy and
HTTP integrations, OpenAPI-defined APIs,
gateway response body templates, API keys and usage plans, throttling, resource policies,
caching and canaries; :attr:`LocalApi.notes` says which of these an API uses.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from werkzeug.wrappers import Request, Response

from .gateway_auth import Authorizers
from .gateway_errors import GatewayError, internal
from .gateway_model import (
    LOOPBACK,
    Invoke,
    LocalApi,
    LocalMethod,
    Log,
    MockIntegration,
    ProxyIntegration,
    ServiceIntegration,
    UnservedMethod,
)
from .gateway_proxy import Malformed, accepts_binary, map_proxy_response, proxy_event
from .gateway_reader import build_apis
from .gateway_responses import error_response, mock_response
from .gateway_routing import Call, route
from .gateway_services import serve
from .gateway_validation import validate
from .http_server import HttpServer
from .model import Invocation, LocalEnvironment

__all__ = [
    "LOOPBACK",
    "ApiServer",
    "Gateway",
    "GatewayError",
    "HttpServer",
    "LocalApi",
    "LocalMethod",
    "ProxyIntegration",
    "UnservedMethod",
    "build_apis",
]


class Gateway:
    """The WSGI application that answers as one REST API's stage would."""

    def __init__(self, api: LocalApi, environment: LocalEnvironment, invoke: Invoke, log: Log = print) -> None:
        self.api = api
        self.environment = environment
        self.invoke = invoke
        self.log = log
        self.authorizers = Authorizers(api, environment, invoke, log)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        started = time.monotonic()
        call: Call | None = None
        reason = ""
        try:
            call = route(self.api, request)
            response = self._handle(call)
        except GatewayError as error:
            response, reason = error_response(self.api, error, _request_parameters(request, call)), error.reason
        response.headers["x-amzn-RequestId"] = call.request_id if call else str(uuid.uuid4())
        self._log_request(request, response.status_code, time.monotonic() - started, call, reason)
        return response(environ, start_response)

    # -- the steps ---------------------------------------------------------------------------

    def _handle(self, call: Call) -> Response:
        method = call.method
        if isinstance(method, UnservedMethod):
            raise internal(f"not served locally: {method.reason}")
        authorizer, identity = self.authorizers.authorize(method.auth, call)
        validate(method, call)
        if isinstance(method.integration, MockIntegration):
            return mock_response(method.integration, call)
        if isinstance(method.integration, ServiceIntegration):
            if method.integration.respond is not None:
                answer: Response = method.integration.respond(
                    call.request.get_data(), call.request_id, self.environment
                )
                return answer
            return serve(method.integration, call, self.environment)
        event = proxy_event(call, authorizer, identity, self.api.binary_media_types)
        return self._proxy(method.integration, call, event)

    def _proxy(self, integration: ProxyIntegration, call: Call, event: dict[str, Any]) -> Response:
        call.function = integration.function.logical_id
        future: Future[Invocation] = Future()

        def run() -> None:
            try:
                future.set_result(self.invoke(integration.function, event))
            except BaseException as error:  # a broken worker is an integration failure, not a server crash
                future.set_exception(error)

        threading.Thread(target=run, name=f"invoke {integration.function.logical_id}", daemon=True).start()
        try:
            invocation = future.result(timeout=integration.timeout_ms / 1000)
        except FutureTimeout:
            reason = f"no answer within the integration timeout ({integration.timeout_ms} ms)"
            raise GatewayError(504, {"message": "Endpoint request timed out"}, reason, "INTEGRATION_TIMEOUT") from None
        except Exception as error:
            raise internal(f"invoke failed: {type(error).__name__}: {error}", 502) from None
        call.function_request_id = invocation.request_id
        if not invocation.ok:
            details = invocation.error or {}
            what = "timed out" if invocation.timed_out else "failed"
            raise internal(f"function {what}: {details.get('errorType')}: {details.get('errorMessage')}", 502)
        try:
            return map_proxy_response(invocation.payload, accepts_binary(call.request, self.api.binary_media_types))
        except Malformed as error:
            raise internal(f"malformed Lambda proxy response: {error}", 502) from None

    def _log_request(self, request: Request, status: int, seconds: float, call: Call | None, reason: str) -> None:
        line = (
            f"[{self.api.stack}] {request.method} {request.full_path.rstrip('?')} -> {status} ({seconds * 1000:.0f} ms)"
        )
        if call is not None and call.function:
            line += f" {call.function}" + (f" {call.function_request_id}" if call.function_request_id else "")
        if reason:
            line += f": {reason}"
        self.log(line)


def _request_parameters(request: Request, call: Call | None) -> Callable[[str, str], str | None]:
    """Reads request parameters for a gateway response, also when no route matched (no path parameters then)."""
    if call is not None:
        return call.parameter

    def parameter(location: str, name: str) -> str | None:
        if location == "header":
            return request.headers.get(name)
        return request.args.get(name) if location == "querystring" else None

    return parameter


class ApiServer(HttpServer):
    """One REST API stage on 127.0.0.1; :attr:`url` is its invoke URL (``http://127.0.0.1:PORT/prod/``)."""

    def __init__(
        self,
        api: LocalApi,
        environment: LocalEnvironment,
        invoke: Invoke,
        host: str = LOOPBACK,
        port: int = 0,
        log: Log = print,
    ) -> None:
        self.api = api
        self.gateway = Gateway(api, environment, invoke, log)
        super().__init__(self.gateway, host, port, f"/{api.stage}/")
