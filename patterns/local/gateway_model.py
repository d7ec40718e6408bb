"""What a local REST API is made of, as read from a template: resources, methods, authorizers, integrations."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import Invocation, LocalFunction, LocalUserPool

Invoke = Callable[[LocalFunction, dict[str, Any]], Invocation]
Log = Callable[[str], None]

LOOPBACK = "127.0.0.1"
INTEGRATION_TIMEOUT_MS = 29_000  # API Gateway's default (and, for REST APIs, usual maximum) integration timeout
DEFAULT_AUTHORIZER_TTL_SECONDS = 300
PARAMETER_LOCATIONS = {"querystring", "header", "path"}


@dataclass(frozen=True)
class LambdaAuthorizer:
    """A ``CUSTOM`` authorizer: a function that returns an IAM policy for the caller."""

    logical_id: str
    kind: str  # "TOKEN" or "REQUEST"
    function: LocalFunction
    identity_sources: tuple[tuple[str, str], ...]  # ("header" | "querystring", name)
    ttl_seconds: int
    validation_expression: str | None = None  # TOKEN only: the token must match it


@dataclass(frozen=True)
class MethodAuth:
    type: str  # NONE, AWS_IAM, COGNITO_USER_POOLS or CUSTOM
    user_pools: tuple[LocalUserPool, ...] = ()
    scopes: tuple[str, ...] = ()
    token_header: str = "Authorization"
    authorizer: LambdaAuthorizer | None = None


@dataclass(frozen=True)
class ProxyIntegration:
    function: LocalFunction
    timeout_ms: int = INTEGRATION_TIMEOUT_MS


@dataclass(frozen=True)
class MockResponse:
    status: int
    selection_pattern: str | None  # None: the default response
    headers: tuple[tuple[str, str], ...]  # (header, source): "'static'" or "method.request.<location>.<name>"
    body: str


@dataclass(frozen=True)
class MockIntegration:
    status: str  # the statusCode the request template selects responses with
    responses: tuple[MockResponse, ...]


@dataclass(frozen=True)
class ServiceIntegration:
    """An ``AWS`` integration: API Gateway calls a service's action itself, with a mapping template.

    Served by the module ``gateway_services`` names for its ``(service, action)``, or, when ``respond`` is
    set, by the action's own module: ``respond(body, request_id, environment)`` calls the action on the
    local endpoint and returns the whole response (``gateway_stepfunctions``).
    """

    service: str  # "kinesis", "states": from the integration URI arn:aws:apigateway:REGION:SERVICE:action/ACTION
    action: str  # "PutRecords", "StartExecution"
    request_templates: Mapping[str, str]  # content type -> template, intrinsics resolved
    responses: tuple[MockResponse, ...]  # the integration responses, selected by the service's HTTP status
    respond: Callable[[bytes, str, Any], Any] | None = None


@dataclass(frozen=True)
class LocalMethod:
    logical_id: str
    http_method: str  # GET, POST, ..., or ANY
    auth: MethodAuth
    integration: ProxyIntegration | MockIntegration | ServiceIntegration
    required_parameters: tuple[tuple[str, str], ...] = ()  # (location, name) marked required
    validate_parameters: bool = False
    validate_body: bool = False
    models: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # content type -> JSON schema (draft 4)


@dataclass(frozen=True)
class UnservedMethod:
    """A method the local run cannot serve; requests to it get API Gateway's 500 and the log says why."""

    logical_id: str
    http_method: str
    reason: str


@dataclass
class LocalResource:
    resource_id: str
    path: str  # "/items/{id}"
    part: str  # "{id}"; "" for the root
    children: list[LocalResource] = field(default_factory=list)
    methods: dict[str, LocalMethod | UnservedMethod] = field(default_factory=dict)

    @property
    def parameter(self) -> str | None:
        """The path parameter this segment captures (``id`` for ``{id}``, ``proxy`` for ``{proxy+}``)."""
        if self.part.startswith("{") and self.part.endswith("}"):
            return self.part[1:-1].rstrip("+")
        return None

    @property
    def greedy(self) -> bool:
        return self.part.endswith("+}")


@dataclass(frozen=True)
class GatewayResponseSpec:
    """An ``AWS::ApiGateway::GatewayResponse``: what API Gateway adds to its own answers of one type."""

    response_type: str  # DEFAULT_4XX, UNAUTHORIZED, BAD_REQUEST_BODY, ...
    status: int | None  # None: the answer keeps its own status
    headers: tuple[tuple[str, str], ...]  # (header, source): "'static'" or "method.request.<location>.<name>"


@dataclass
class LocalApi:
    stack: str
    logical_id: str
    api_id: str
    stage: str
    root: LocalResource
    region: str
    binary_media_types: tuple[str, ...] = ()
    stage_variables: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what of this API the local run does not reproduce
    gateway_responses: dict[str, GatewayResponseSpec] = field(default_factory=dict)  # by response type

    def routes(self) -> list[tuple[str, str]]:
        """(method, path) of every method, e.g. ("GET", "/items/{id}"), for listings and checks."""
        return sorted((verb, resource.path) for resource in walk(self.root) for verb in resource.methods)


def walk(root: LocalResource) -> list[LocalResource]:
    found, pending = [], [root]
    while pending:
        resource = pending.pop()
        found.append(resource)
        pending.extend(resource.children)
    return found


def render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(render_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def glob(pattern: str, value: str, case: bool = True) -> bool:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None
