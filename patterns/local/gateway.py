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
   static header values (CORS preflight).

Not reproduced: VTL mapping templates, non-proxy and HTTP integrations, OpenAPI-defined APIs,
gateway response customizations, API keys and usage plans, throttling, resource policies,
caching and canaries; :attr:`LocalApi.notes` says which of these an API uses.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence, Union
from urllib.parse import unquote, urlsplit

import jwt
from jsonschema import Draft4Validator
from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .intrinsics import Unresolvable, stack_resolver
from .model import (
    ACCOUNT,
    Invocation,
    LocalEnvironment,
    LocalFunction,
    LocalRunError,
    LocalStack,
    LocalUserPool,
)

Invoke = Callable[[LocalFunction, dict], Invocation]
Log = Callable[[str], None]

LOOPBACK = "127.0.0.1"
INTEGRATION_TIMEOUT_MS = 29_000  # API Gateway's default (and, for REST APIs, usual maximum) integration timeout
DEFAULT_AUTHORIZER_TTL_SECONDS = 300
_LAMBDA_URI = re.compile(r":lambda:path/[^/]+/functions/(?P<arn>.+)/invocations$")
_PROXY_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
_PARAMETER_LOCATIONS = {"querystring", "header", "path"}


# -- what an API is made of --------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaAuthorizer:
    """A ``CUSTOM`` authorizer: a function that returns an IAM policy for the caller."""

    logical_id: str
    kind: str  # "TOKEN" or "REQUEST"
    function: LocalFunction
    identity_sources: tuple[tuple[str, str], ...]  # ("header" | "querystring", name)
    ttl_seconds: int
    validation_expression: Optional[str] = None  # TOKEN only: the token must match it


@dataclass(frozen=True)
class MethodAuth:
    type: str  # NONE, AWS_IAM, COGNITO_USER_POOLS or CUSTOM
    user_pools: tuple[LocalUserPool, ...] = ()
    scopes: tuple[str, ...] = ()
    token_header: str = "Authorization"
    authorizer: Optional[LambdaAuthorizer] = None


@dataclass(frozen=True)
class ProxyIntegration:
    function: LocalFunction
    timeout_ms: int = INTEGRATION_TIMEOUT_MS


@dataclass(frozen=True)
class MockResponse:
    status: int
    selection_pattern: Optional[str]  # None: the default response
    headers: tuple[tuple[str, str], ...]  # (header, source): "'static'" or "method.request.<location>.<name>"
    body: str


@dataclass(frozen=True)
class MockIntegration:
    status: str  # the statusCode the request template selects responses with
    responses: tuple[MockResponse, ...]


@dataclass(frozen=True)
class LocalMethod:
    logical_id: str
    http_method: str  # GET, POST, ..., or ANY
    auth: MethodAuth
    integration: Union[ProxyIntegration, MockIntegration]
    required_parameters: tuple[tuple[str, str], ...] = ()  # (location, name) marked required
    validate_parameters: bool = False
    validate_body: bool = False
    models: Mapping[str, dict] = field(default_factory=dict)  # content type -> JSON schema (draft 4)


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
    methods: dict[str, Union[LocalMethod, UnservedMethod]] = field(default_factory=dict)

    @property
    def parameter(self) -> Optional[str]:
        """The path parameter this segment captures (``id`` for ``{id}``, ``proxy`` for ``{proxy+}``)."""
        if self.part.startswith("{") and self.part.endswith("}"):
            return self.part[1:-1].rstrip("+")
        return None

    @property
    def greedy(self) -> bool:
        return self.part.endswith("+}")


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

    def routes(self) -> list[tuple[str, str]]:
        """(method, path) of every method, e.g. ("GET", "/items/{id}"), for listings and checks."""
        return sorted((verb, resource.path) for resource in _walk(self.root) for verb in resource.methods)


# -- reading the template ----------------------------------------------------------------------


def build_apis(environment: LocalEnvironment) -> list[LocalApi]:
    """Every REST API of every provisioned stack, ready to serve.

    Raises :class:`LocalRunError` when an API's structure (its id, resources or stage) cannot be
    resolved; a single method that cannot be served becomes an :class:`UnservedMethod` and a note.
    """
    apis = []
    for stack in environment.stacks:
        for logical_id, resource in stack.template.get("Resources", {}).items():
            if resource.get("Type") == "AWS::ApiGateway::RestApi":
                apis.append(_ApiReader(environment, stack, logical_id).read())
    return apis


class _ApiReader:
    """Reads one RestApi of one stack; physical ids come from the provisioned stack's values."""

    def __init__(self, environment: LocalEnvironment, stack: LocalStack, logical_id: str) -> None:
        self.environment = environment
        self.stack = stack
        self.logical_id = logical_id
        self.resolver = stack_resolver(stack, environment.region)
        self.resources: dict[str, dict] = stack.template.get("Resources", {})
        self.notes: list[str] = []

    def read(self) -> LocalApi:
        try:
            api_id = self.resolver.resolve_string({"Ref": self.logical_id}, self.logical_id)
            root_id = self.resolver.resolve_string({"Fn::GetAtt": [self.logical_id, "RootResourceId"]}, self.logical_id)
            mine = {lid: res for lid, res in self.resources.items() if self._belongs(res, api_id)}
            root = self._tree(root_id, mine)
            stage, variables = self._stage(mine)
            self._methods(root, mine)
            properties = self.resolver.resolve(self.resources[self.logical_id].get("Properties", {}), self.logical_id)
        except Unresolvable as error:
            raise LocalRunError(f"[{self.stack.name}] REST API {self.logical_id}: {error}") from error
        self._note_unsupported(mine)
        # CloudFormation spells "/" in media types as "~1" (image~1png); both forms are accepted.
        binary = tuple(str(item).replace("~1", "/") for item in properties.get("BinaryMediaTypes", []))
        return LocalApi(
            self.stack.name,
            self.logical_id,
            api_id,
            stage,
            root,
            self.environment.region,
            binary,
            variables,
            self.notes,
        )

    def _belongs(self, resource: dict, api_id: str) -> bool:
        rest_api_id = resource.get("Properties", {}).get("RestApiId")
        if rest_api_id is None or not resource.get("Type", "").startswith("AWS::ApiGateway::"):
            return False
        return self.resolver.resolve(rest_api_id) == api_id

    def _tree(self, root_id: str, mine: Mapping[str, dict]) -> LocalResource:
        by_id = {root_id: LocalResource(root_id, "/", "")}
        parents: dict[str, str] = {}
        for logical_id, resource in mine.items():
            if resource["Type"] == "AWS::ApiGateway::Resource":
                properties = resource["Properties"]
                resource_id = self.resolver.resolve_string({"Ref": logical_id}, logical_id)
                by_id[resource_id] = LocalResource(resource_id, "", str(properties["PathPart"]))
                parents[resource_id] = self.resolver.resolve_string(properties["ParentId"], f"{logical_id}.ParentId")
        for resource_id, parent_id in parents.items():
            if parent_id not in by_id:
                where = f"[{self.stack.name}] REST API {self.logical_id}"
                raise LocalRunError(f"{where}: resource {resource_id} has an unknown parent {parent_id}")
            by_id[parent_id].children.append(by_id[resource_id])
        _assign_paths(by_id[root_id], "")
        return by_id[root_id]

    def _stage(self, mine: Mapping[str, dict]) -> tuple[str, dict[str, str]]:
        """Name and variables of the API's ``AWS::ApiGateway::Stage``, else of the stage its deployment creates."""
        for wanted, variables_key in (("AWS::ApiGateway::Stage", "Variables"), ("AWS::ApiGateway::Deployment", "")):
            stages = [
                self.resolver.resolve(res["Properties"], lid)
                for lid, res in mine.items()
                if res["Type"] == wanted and "StageName" in res.get("Properties", {})
            ]
            if stages:
                names = [str(stage["StageName"]) for stage in stages]
                if len(names) > 1:
                    self.notes.append(f"stages {names}: only {names[0]!r} is served locally")
                variables = stages[0].get(variables_key, {}) if variables_key else {}
                return names[0], {str(key): str(value) for key, value in variables.items()}
        raise LocalRunError(f"[{self.stack.name}] REST API {self.logical_id} has no stage to serve")

    def _methods(self, root: LocalResource, mine: Mapping[str, dict]) -> None:
        by_id = {resource.resource_id: resource for resource in _walk(root)}
        for logical_id, resource in mine.items():
            if resource["Type"] != "AWS::ApiGateway::Method":
                continue
            properties = resource["Properties"]
            verb = str(properties.get("HttpMethod", "")).upper()
            target = by_id.get(self.resolver.resolve(properties.get("ResourceId")))
            if target is None:
                self.notes.append(
                    f"{verb} method {logical_id} is not served locally: its ResourceId is not a resource of this API"
                )
                continue
            try:
                target.methods[verb] = self._method(logical_id, verb, properties)
            except (Unresolvable, _Unservable) as error:
                self.notes.append(f"{verb} method {logical_id} ({target.path}) is not served locally: {error.reason}")
                target.methods[verb] = UnservedMethod(logical_id, verb, error.reason)

    def _method(self, logical_id: str, verb: str, properties: Mapping[str, Any]) -> LocalMethod:
        if properties.get("ApiKeyRequired"):
            self.notes.append(f"{verb} method {logical_id} requires an API key, which is not checked locally")
        validator = self._validator(properties.get("RequestValidatorId"))
        return LocalMethod(
            logical_id=logical_id,
            http_method=verb,
            auth=self._auth(logical_id, properties),
            integration=self._integration(logical_id, properties.get("Integration", {})),
            required_parameters=_required_parameters(properties.get("RequestParameters", {})),
            validate_parameters=validator.get("ValidateRequestParameters") is True,
            validate_body=validator.get("ValidateRequestBody") is True,
            models=self._models(properties.get("RequestModels", {})),
        )

    def _validator(self, reference: Any) -> dict:
        if reference is None:
            return {}
        return self._referenced(reference, "AWS::ApiGateway::RequestValidator")[1]

    def _models(self, request_models: Mapping[str, Any]) -> dict[str, dict]:
        models = {}
        for content_type, reference in request_models.items():
            schema = self._referenced(reference, "AWS::ApiGateway::Model")[1].get("Schema", {})
            models[content_type.lower()] = json.loads(schema) if isinstance(schema, str) else schema
        return models

    def _referenced(self, reference: Any, type_name: str) -> tuple[str, dict]:
        """Logical id and resolved properties of the resource a ``Ref`` names (validator, model, authorizer)."""
        if isinstance(reference, dict) and isinstance(reference.get("Ref"), str):
            logical_id = reference["Ref"]
            resource = self.resources.get(logical_id, {})
            if resource.get("Type") == type_name:
                return logical_id, self.resolver.resolve(resource.get("Properties", {}), logical_id)
        raise _Unservable(f"{reference!r} does not name an {type_name} of this stack")

    def _auth(self, logical_id: str, properties: Mapping[str, Any]) -> MethodAuth:
        kind = str(properties.get("AuthorizationType", "NONE"))
        if kind in ("NONE", "AWS_IAM"):
            return MethodAuth(kind)
        if kind not in ("COGNITO_USER_POOLS", "CUSTOM"):
            raise _Unservable(f"authorization type {kind} is not supported locally")
        if "AuthorizerId" not in properties:
            raise _Unservable(f"{kind} authorization without an AuthorizerId")
        authorizer_id, authorizer = self._referenced(properties["AuthorizerId"], "AWS::ApiGateway::Authorizer")
        if kind == "CUSTOM":
            return MethodAuth(kind, authorizer=self._lambda_authorizer(authorizer_id, authorizer))
        pools = tuple(self._user_pool(str(arn)) for arn in authorizer.get("ProviderARNs", []))
        return MethodAuth(
            kind,
            user_pools=pools,
            scopes=tuple(str(scope) for scope in self.resolver.resolve(properties.get("AuthorizationScopes", []))),
            token_header=_header_source(str(authorizer.get("IdentitySource", "method.request.header.Authorization"))),
        )

    def _user_pool(self, arn: str) -> LocalUserPool:
        for stack in self.environment.stacks:
            for pool in stack.user_pools.values():
                if pool.arn == arn:
                    return pool
        raise _Unservable(f"the authorizer's user pool {arn} is not part of this local run")

    def _lambda_authorizer(self, logical_id: str, properties: Mapping[str, Any]) -> LambdaAuthorizer:
        kind = str(properties.get("Type", "TOKEN"))
        function = self._function(str(properties.get("AuthorizerUri", "")), f"authorizer {logical_id}")
        sources = [item.strip() for item in str(properties.get("IdentitySource", "")).split(",") if item.strip()]
        return LambdaAuthorizer(
            logical_id=logical_id,
            kind=kind,
            function=function,
            identity_sources=tuple(_identity_source(source) for source in sources),
            ttl_seconds=int(properties.get("AuthorizerResultTtlInSeconds", DEFAULT_AUTHORIZER_TTL_SECONDS)),
            validation_expression=properties.get("IdentityValidationExpression"),
        )

    def _integration(self, logical_id: str, integration: Mapping[str, Any]) -> Union[ProxyIntegration, MockIntegration]:
        kind = str(integration.get("Type", ""))
        if kind == "AWS_PROXY":
            uri = self.resolver.resolve_string(integration.get("Uri"), f"{logical_id}.Integration.Uri")
            timeout = int(integration.get("TimeoutInMillis", INTEGRATION_TIMEOUT_MS))
            return ProxyIntegration(self._function(uri, "the integration"), timeout)
        if kind == "MOCK":
            return self._mock(logical_id, integration)
        raise _Unservable(
            f"{kind or 'untyped'} integrations are not served locally (only AWS_PROXY to Lambda and MOCK)"
        )

    def _function(self, uri: str, what: str) -> LocalFunction:
        match = _LAMBDA_URI.search(uri)
        if match is None:
            raise _Unservable(f"{what} does not invoke a Lambda function: {uri}")
        function = self.environment.function_for_arn(match.group("arn"))
        if function is None:
            raise _Unservable(f"{what} invokes {match.group('arn')}, which is not a function of this local run")
        return function

    def _mock(self, logical_id: str, integration: Mapping[str, Any]) -> MockIntegration:
        templates = self.resolver.resolve(integration.get("RequestTemplates", {}))
        template = templates.get("application/json", next(iter(templates.values()), "")) if templates else ""
        status = re.search(r"statusCode\s*[\"']?\s*:\s*(\d{3})", str(template))
        responses = tuple(
            self._mock_response(logical_id, self.resolver.resolve(item))
            for item in integration.get("IntegrationResponses", [])
        )
        return MockIntegration(status.group(1) if status else "200", responses)

    def _mock_response(self, logical_id: str, response: Mapping[str, Any]) -> MockResponse:
        headers = []
        for target, source in response.get("ResponseParameters", {}).items():
            name = str(target).removeprefix("method.response.header.")
            source = str(source)
            if (source.startswith("'") and source.endswith("'")) or _request_source(source) is not None:
                headers.append((name, source))
            else:
                self.notes.append(
                    f"MOCK method {logical_id}: header {name} maps {source}, which is not evaluated locally"
                )
        templates = response.get("ResponseTemplates", {})
        body = str(templates.get("application/json", next(iter(templates.values()), ""))) if templates else ""
        if "$" in body or "#" in body:
            self.notes.append(
                f"MOCK method {logical_id}: its response template is VTL, which is not evaluated locally "
                "(static header values are served as they are)"
            )
            body = ""
        pattern = response.get("SelectionPattern") or None
        return MockResponse(int(response.get("StatusCode", 200)), pattern, tuple(headers), body)

    def _note_unsupported(self, mine: Mapping[str, dict]) -> None:
        properties = self.resources[self.logical_id].get("Properties", {})
        if "Body" in properties or "BodyS3Location" in properties:
            self.notes.append(
                "the API's OpenAPI definition (Body) is not read locally: only CloudFormation resources are served"
            )
        for logical_id, resource in mine.items():
            if resource["Type"] == "AWS::ApiGateway::GatewayResponse":
                self.notes.append(
                    f"gateway response {logical_id} is not applied locally: errors use API Gateway's defaults"
                )


class _Unservable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _assign_paths(resource: LocalResource, parent_path: str) -> None:
    """Give every resource its path and order its children as API Gateway matches them."""
    resource.path = f"{parent_path}/{resource.part}" if resource.part else "/"
    resource.children.sort(key=lambda child: (child.greedy, child.parameter is not None, child.part))
    for child in resource.children:
        _assign_paths(child, "" if resource.path == "/" else resource.path)


def _walk(root: LocalResource) -> list[LocalResource]:
    found, pending = [], [root]
    while pending:
        resource = pending.pop()
        found.append(resource)
        pending.extend(resource.children)
    return found


def _required_parameters(parameters: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    required = []
    for key, flag in parameters.items():
        parts = str(key).split(".", 3)  # method.request.<location>.<name>
        if flag is True and len(parts) == 4 and parts[2] in _PARAMETER_LOCATIONS:
            required.append((parts[2], parts[3]))
    return tuple(required)


def _header_source(source: str) -> str:
    prefix = "method.request.header."
    if not source.startswith(prefix):
        raise _Unservable(f"identity source {source} is not a header")
    return source[len(prefix) :]


def _identity_source(source: str) -> tuple[str, str]:
    found = _request_source(source)
    if found is None or found[0] == "path":
        raise _Unservable(f"identity source {source} is not supported locally (only headers and query strings)")
    return found


def _request_source(source: str) -> Optional[tuple[str, str]]:
    """``method.request.header.X`` -> ("header", "X"); None when it names no request parameter."""
    parts = source.split(".", 3)
    if len(parts) == 4 and parts[:2] == ["method", "request"] and parts[2] in _PARAMETER_LOCATIONS:
        return parts[2], parts[3]
    return None


# -- serving -----------------------------------------------------------------------------------


class GatewayError(Exception):
    """An answer API Gateway itself gives (not the integration's), with why, for the console."""

    def __init__(self, status: int, body: Mapping[str, Any], reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.body = dict(body)
        self.reason = reason


def _forbidden(reason: str) -> GatewayError:
    return GatewayError(403, {"message": "Forbidden"}, reason)


def _missing_token(reason: str) -> GatewayError:
    return GatewayError(403, {"message": "Missing Authentication Token"}, reason)


def _unauthorized(reason: str, message: str = "Unauthorized") -> GatewayError:
    return GatewayError(401, {"message": message}, reason)


def _internal(reason: str, status: int = 500) -> GatewayError:
    return GatewayError(status, {"message": "Internal server error"}, reason)


@dataclass
class _Call:
    """One request as API Gateway sees it once the route is matched."""

    request: Request
    api: LocalApi
    resource: LocalResource
    method: Union[LocalMethod, UnservedMethod]
    path: str  # without the stage: "/items/1"
    path_parameters: dict[str, str]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.time)
    function_request_id: Optional[str] = None
    function: Optional[str] = None

    @property
    def method_arn(self) -> str:
        api, resource = self.api, f"{self.request.method}/{self.path.lstrip('/')}"
        return f"arn:aws:execute-api:{api.region}:{ACCOUNT}:{api.api_id}/{api.stage}/{resource}"

    def parameter(self, location: str, name: str) -> Optional[str]:
        if location == "header":
            return self.request.headers.get(name)
        if location == "querystring":
            return self.request.args.get(name)
        return self.path_parameters.get(name)


class Gateway:
    """The WSGI application that answers as one REST API's stage would."""

    def __init__(self, api: LocalApi, environment: LocalEnvironment, invoke: Invoke, log: Log = print) -> None:
        self.api = api
        self.environment = environment
        self.invoke = invoke
        self.log = log
        self._jwks: dict[str, jwt.PyJWKClient] = {}
        self._authorizer_cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict]] = {}
        self._lock = threading.Lock()
        self._warned_iam = False

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        started = time.monotonic()
        call: Optional[_Call] = None
        reason = ""
        try:
            call = self._route(request)
            response = self._handle(call)
        except GatewayError as error:
            response, reason = _json_response(error.status, error.body), error.reason
        response.headers["x-amzn-RequestId"] = call.request_id if call else str(uuid.uuid4())
        self._log_request(request, response.status_code, time.monotonic() - started, call, reason)
        return response(environ, start_response)

    # -- the steps ---------------------------------------------------------------------------

    def _route(self, request: Request) -> _Call:
        raw_path = urlsplit(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path).path
        segments = [unquote(segment) for segment in raw_path.split("/") if segment]
        if not segments or segments[0] != self.api.stage:
            raise _forbidden(f"no stage {segments[0] if segments else '(none)'!r}; this API serves /{self.api.stage}/")
        matched = _match(self.api.root, segments[1:], {})
        if matched is None:
            raise _missing_token("no resource matches the path")
        resource, parameters = matched
        method = resource.methods.get(request.method) or resource.methods.get("ANY")
        if method is None:
            raise _missing_token(f"{resource.path} has no {request.method} method")
        path = "/" + "/".join(segments[1:])
        return _Call(request, self.api, resource, method, path, parameters)

    def _handle(self, call: _Call) -> Response:
        method = call.method
        if isinstance(method, UnservedMethod):
            raise _internal(f"not served locally: {method.reason}")
        authorizer, identity = self._authorize(method.auth, call)
        _validate(method, call)
        if isinstance(method.integration, MockIntegration):
            return _mock_response(method.integration, call)
        event = _proxy_event(call, authorizer, identity, self.api.binary_media_types)
        return self._proxy(method.integration, call, event)

    def _authorize(self, auth: MethodAuth, call: _Call) -> tuple[Optional[dict], dict]:
        """The event's ``requestContext.authorizer`` and identity fields, or the refusal."""
        if auth.type == "COGNITO_USER_POOLS":
            return {"claims": _render_claims(self._verify_token(auth, call.request))}, {}
        if auth.type == "AWS_IAM":
            return None, self._check_sigv4(call.request)
        if auth.type == "CUSTOM" and auth.authorizer is not None:
            return self._run_authorizer(auth.authorizer, call), {}
        return None, {}

    def _verify_token(self, auth: MethodAuth, request: Request) -> dict:
        token = (request.headers.get(auth.token_header) or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise _unauthorized(f"no token in the {auth.token_header} header")
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError as error:
            raise _unauthorized(f"not a JWT: {error}") from None
        pool = next((pool for pool in auth.user_pools if self._issuer(pool) == issuer), None)
        if pool is None:
            raise _unauthorized(f"token issuer {issuer!r} is not one of the authorizer's user pools")
        try:
            key = self._jwks_client(pool).get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=issuer,
                options={"require": ["exp", "iat", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("token expired", "The incoming token has expired") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as error:
            raise _unauthorized(f"token rejected: {error}") from None
        _check_token_use(claims, auth.scopes)
        return claims

    def _issuer(self, pool: LocalUserPool) -> str:
        return f"https://cognito-idp.{self.environment.region}.amazonaws.com/{pool.pool_id}"

    def _jwks_client(self, pool: LocalUserPool) -> jwt.PyJWKClient:
        """One cached JWKS client per pool: keys are fetched once, and again only for an unknown ``kid``."""
        with self._lock:
            if pool.pool_id not in self._jwks:
                url = f"{self.environment.endpoint}/{pool.pool_id}/.well-known/jwks.json"
                self._jwks[pool.pool_id] = jwt.PyJWKClient(url, cache_keys=True, timeout=10)
            return self._jwks[pool.pool_id]

    def _check_sigv4(self, request: Request) -> dict:
        header = request.headers.get("Authorization")
        if not header:
            raise _missing_token("AWS_IAM method called without a SigV4 Authorization header")
        parameters = dict(
            item.strip().split("=", 1) for item in header.removeprefix("AWS4-HMAC-SHA256").split(",") if "=" in item
        )
        problems = [
            f"Authorization header requires '{name}' parameter."
            for name in ("Credential", "Signature", "SignedHeaders")
            if not header.startswith("AWS4-HMAC-SHA256 ") or not parameters.get(name)
        ]
        if "X-Amz-Date" not in request.headers and "Date" not in request.headers:
            problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        if problems:
            raise GatewayError(
                403, {"message": " ".join(problems) + f" Authorization={header}"}, "malformed SigV4 header"
            )
        if not self._warned_iam:
            self._warned_iam = True
            self.log(f"[{self.api.stack}] AWS_IAM methods: SigV4 signatures are not verified locally, only their shape")
        return {"accessKey": parameters["Credential"].split("/", 1)[0], "accountId": ACCOUNT}

    def _run_authorizer(self, authorizer: LambdaAuthorizer, call: _Call) -> dict:
        identity = tuple(call.parameter(location, name) or "" for location, name in authorizer.identity_sources)
        if authorizer.kind == "TOKEN":
            if not identity or not identity[0]:
                raise _unauthorized("no token for the authorizer")
            if authorizer.validation_expression and not re.fullmatch(authorizer.validation_expression, identity[0]):
                raise _unauthorized("token does not match the authorizer's IdentityValidationExpression")
        elif authorizer.ttl_seconds > 0 and not all(identity):
            raise _unauthorized("an identity source of the authorizer is missing")
        result = self._authorizer_result(authorizer, call, identity)
        decision = _evaluate_policy(result.get("policyDocument", {}), call.method_arn)
        if decision == "Deny":
            raise GatewayError(
                403,
                {"Message": "User is not authorized to access this resource with an explicit deny"},
                "authorizer policy denies",
            )
        if decision != "Allow":
            raise GatewayError(
                403,
                {"Message": "User is not authorized to access this resource"},
                f"authorizer policy does not allow {call.method_arn}",
            )
        context = {key: _render_value(value) for key, value in (result.get("context") or {}).items()}
        return {"principalId": str(result.get("principalId", "")), **context}

    def _authorizer_result(self, authorizer: LambdaAuthorizer, call: _Call, identity: tuple[str, ...]) -> dict:
        """The authorizer's answer, cached by identity for its TTL as API Gateway does (policy included)."""
        key = (authorizer.logical_id, identity)
        with self._lock:
            cached = self._authorizer_cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if authorizer.kind == "TOKEN":
            event: dict = {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": call.method_arn}
        else:
            request = _proxy_event(call, None, {}, self.api.binary_media_types)
            del request["body"], request["isBase64Encoded"]  # a REQUEST authorizer sees everything but the body
            event = {"type": "REQUEST", "methodArn": call.method_arn, **request}
        invocation = self.invoke(authorizer.function, event)
        if not invocation.ok:
            error = invocation.error or {}
            if error.get("errorMessage") == "Unauthorized":
                raise _unauthorized("the authorizer answered Unauthorized")
            raise GatewayError(
                500, {"message": None}, f"authorizer failed: {error.get('errorType')}: {error.get('errorMessage')}"
            )
        result = invocation.payload
        if (
            not isinstance(result, dict)
            or "principalId" not in result
            or not isinstance(result.get("policyDocument"), dict)
        ):
            raise GatewayError(500, {"message": None}, "authorizer returned no principalId and policyDocument")
        if authorizer.ttl_seconds > 0:
            with self._lock:
                self._authorizer_cache[key] = (time.monotonic() + authorizer.ttl_seconds, result)
        return result

    def _proxy(self, integration: ProxyIntegration, call: _Call, event: dict) -> Response:
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
            raise GatewayError(504, {"message": "Endpoint request timed out"}, reason) from None
        except Exception as error:
            raise _internal(f"invoke failed: {type(error).__name__}: {error}", 502) from None
        call.function_request_id = invocation.request_id
        if not invocation.ok:
            error = invocation.error or {}
            what = "timed out" if invocation.timed_out else "failed"
            raise _internal(f"function {what}: {error.get('errorType')}: {error.get('errorMessage')}", 502)
        try:
            return _map_proxy_response(invocation.payload, _accepts_binary(call.request, self.api.binary_media_types))
        except _Malformed as error:
            raise _internal(f"malformed Lambda proxy response: {error}", 502) from None

    def _log_request(self, request: Request, status: int, seconds: float, call: Optional[_Call], reason: str) -> None:
        line = (
            f"[{self.api.stack}] {request.method} {request.full_path.rstrip('?')} -> {status} ({seconds * 1000:.0f} ms)"
        )
        if call is not None and call.function:
            line += f" {call.function}" + (f" {call.function_request_id}" if call.function_request_id else "")
        if reason:
            line += f": {reason}"
        self.log(line)


# -- request steps as functions ------------------------------------------------------------------


def _match(
    resource: LocalResource, segments: Sequence[str], parameters: dict[str, str]
) -> Optional[tuple[LocalResource, dict[str, str]]]:
    """The most specific resource for the path: literals first, then ``{param}``, then ``{proxy+}``."""
    if not segments:
        return resource, parameters
    head, rest = segments[0], segments[1:]
    for child in resource.children:
        name = child.parameter
        if child.greedy:
            return child, {**parameters, str(name): "/".join(segments)}
        if name is None and child.part != head:
            continue
        found = _match(child, rest, parameters if name is None else {**parameters, name: head})
        if found is not None:
            return found
    return None


def _check_token_use(claims: Mapping[str, Any], scopes: Sequence[str]) -> None:
    """With scopes, API Gateway wants an access token holding one of them; without, an ID token."""
    token_use = claims.get("token_use")
    if scopes:
        if token_use != "access":
            raise _unauthorized(
                f"method needs one of the scopes {list(scopes)}: an access token is required, got {token_use!r}"
            )
        granted = str(claims.get("scope", "")).split()
        if not set(granted) & set(scopes):
            raise _unauthorized(f"token scopes {granted} hold none of {list(scopes)}")
    elif token_use != "id":
        raise _unauthorized(f"method has no AuthorizationScopes, so only ID tokens are accepted; got {token_use!r}")


def _render_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims the way API Gateway passes them: strings, dates for exp/iat, lists comma-joined."""
    rendered = {}
    for name, value in claims.items():
        if name in ("exp", "iat") and isinstance(value, (int, float)):
            rendered[name] = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
        else:
            rendered[name] = _render_value(value)
    return rendered


def _render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_render_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _evaluate_policy(policy: Mapping[str, Any], method_arn: str) -> Optional[str]:
    """ "Deny" if a statement denies the method ARN, else "Allow" if one allows it, else None."""
    statements = policy.get("Statement", [])
    decisions = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        if any(_glob(str(action), "execute-api:Invoke", case=False) for action in actions) and any(
            _glob(str(resource), method_arn) for resource in resources
        ):
            decisions.add(statement.get("Effect"))
    return "Deny" if "Deny" in decisions else "Allow" if "Allow" in decisions else None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, case: bool = True) -> bool:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _validate(method: LocalMethod, call: _Call) -> None:
    if method.validate_parameters:
        missing = [
            name for location, name in method.required_parameters if not (call.parameter(location, name) or "").strip()
        ]
        if missing:
            raise GatewayError(
                400, {"message": f"Missing required request parameters: [{', '.join(missing)}]"}, "request validator"
            )
    if method.validate_body:
        schema = _model_for(method.models, call.request.headers.get("Content-Type"))
        if schema is not None:
            problem = _body_problem(schema, call.request.get_data(cache=True))
            if problem:
                raise GatewayError(400, {"message": "Invalid request body"}, f"request validator: {problem}")


def _model_for(models: Mapping[str, dict], content_type: Optional[str]) -> Optional[dict]:
    """The model API Gateway picks: the content type's (application/json when absent), else ``$default``."""
    media_type = (content_type or "application/json").split(";", 1)[0].strip().lower()
    return models.get(media_type, models.get("$default"))


def _body_problem(schema: dict, raw: bytes) -> Optional[str]:
    """Why the body fails the model, or None. An empty body is checked as an empty object."""
    try:
        document = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError):
        return "body is not JSON"
    error = next(iter(sorted(Draft4Validator(schema).iter_errors(document), key=lambda e: list(e.path))), None)
    return None if error is None else f"{'/'.join(str(p) for p in error.path) or 'body'}: {error.message}"


def _mock_response(integration: MockIntegration, call: _Call) -> Response:
    chosen = next(
        (
            item
            for item in integration.responses
            if item.selection_pattern and re.fullmatch(item.selection_pattern, integration.status)
        ),
        next((item for item in integration.responses if item.selection_pattern is None), None),
    )
    if chosen is None:
        raise _internal(f"MOCK integration has no response for status {integration.status}")
    response = Response(chosen.body, status=chosen.status, content_type="application/json")
    for name, source in chosen.headers:
        value = _mock_header_value(source, call)
        if value is not None:
            response.headers[name] = value
    return response


def _mock_header_value(source: str, call: _Call) -> Optional[str]:
    if source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    found = _request_source(source)
    return call.parameter(*found) if found else None


def _proxy_event(
    call: _Call, authorizer: Optional[dict], identity: Mapping[str, Any], binary_types: Sequence[str]
) -> dict:
    """The REST API (payload 1.0) proxy event a Lambda function receives."""
    request = call.request
    headers = _event_headers(request)
    query: MultiDict = request.args
    body, is_base64 = _event_body(request, binary_types)
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": call.api.api_id,
        "domainName": request.host,
        "domainPrefix": call.api.api_id,
        "extendedRequestId": base64.b64encode(os.urandom(11)).decode().replace("+", "-").replace("/", "_"),
        "httpMethod": request.method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": request.remote_addr,
            "user": None,
            "userAgent": request.headers.get("User-Agent"),
            "userArn": None,
            **identity,
        },
        "path": f"/{call.api.stage}{call.path}",
        "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        "requestId": call.request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(call.started)),
        "requestTimeEpoch": int(call.started * 1000),
        "resourceId": call.resource.resource_id,
        "resourcePath": call.resource.path,
        "stage": call.api.stage,
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    return {
        "resource": call.resource.path,
        "path": call.path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {name: query.getlist(name)[-1] for name in query} or None,
        "multiValueQueryStringParameters": {name: query.getlist(name) for name in query} or None,
        "pathParameters": call.path_parameters or None,
        "stageVariables": dict(call.api.stage_variables) or None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _event_headers(request: Request) -> dict[str, list[str]]:
    """The request's headers plus the ones API Gateway adds in front of the integration."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name, []).append(value)
    forwarded = headers.get("X-Forwarded-For", [])
    headers["X-Forwarded-For"] = [", ".join([*forwarded, request.remote_addr or LOOPBACK])]
    headers["X-Forwarded-Port"] = [str(request.environ.get("SERVER_PORT", ""))]
    headers["X-Forwarded-Proto"] = [request.scheme]
    headers["X-Amzn-Trace-Id"] = [f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"]
    return headers


def _event_body(request: Request, binary_types: Sequence[str]) -> tuple[Optional[str], bool]:
    """Text as text; base64 for a binary media type of the API (or bytes that are not UTF-8)."""
    raw = request.get_data(cache=True)
    if not raw:
        return None, False
    if not _media_type_matches(request.headers.get("Content-Type"), binary_types):
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), True


def _accepts_binary(request: Request, binary_types: Sequence[str]) -> bool:
    """API Gateway decodes a base64 response only when the first Accept type is a binary media type."""
    accept = request.headers.get("Accept", "")
    return bool(accept) and _media_type_matches(accept.split(",", 1)[0], binary_types)


def _media_type_matches(content_type: Optional[str], patterns: Sequence[str]) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return bool(media_type) and any(_glob(pattern.lower(), media_type) for pattern in patterns)


class _Malformed(Exception):
    pass


def _map_proxy_response(payload: Any, decode_base64: bool) -> Response:
    """The HTTP response for a function's proxy result; :class:`_Malformed` if API Gateway would refuse it."""
    if not isinstance(payload, dict):
        raise _Malformed(f"expected an object, got {type(payload).__name__}")
    unknown = set(payload) - _PROXY_RESPONSE_KEYS
    if unknown:
        raise _Malformed(f"unexpected fields {sorted(unknown)}")
    status = payload.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise _Malformed(f"statusCode must be an HTTP status code, got {status!r}")
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        raise _Malformed(f"body must be a string, got {type(body).__name__}")
    is_base64 = payload.get("isBase64Encoded", False)
    if not isinstance(is_base64, bool):
        raise _Malformed("isBase64Encoded must be true or false")
    content = (body or "").encode("utf-8")
    if is_base64 and decode_base64:
        try:
            content = base64.b64decode(body or "", validate=True)
        except ValueError:
            raise _Malformed("isBase64Encoded is true but the body is not base64") from None
    headers = _response_headers(payload)
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))  # API Gateway's default for proxy responses
    return Response(content, status=status, headers=headers)


def _response_headers(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``multiValueHeaders`` and ``headers`` merged; a name in both keeps only its multi values."""
    headers, multi = payload.get("headers") or {}, payload.get("multiValueHeaders") or {}
    if not isinstance(headers, dict) or not isinstance(multi, dict):
        raise _Malformed("headers and multiValueHeaders must be objects")
    merged = []
    for name, values in multi.items():
        if not isinstance(values, list):
            raise _Malformed(f"multiValueHeaders[{name!r}] must be a list")
        merged.extend((str(name), _header_value(value)) for value in values)
    taken = {str(name).lower() for name in multi}
    merged.extend(
        (str(name), _header_value(value)) for name, value in headers.items() if str(name).lower() not in taken
    )
    return merged


def _header_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise _Malformed(f"header values must be scalars, got {value!r}")
    return _render_value(value)


def _json_response(status: int, body: Mapping[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


# -- the HTTP server -----------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access log: the gateway logs one richer line per request."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        return None


class HttpServer:
    """A WSGI application on ``host:port`` (0 = a free port) in a background thread."""

    def __init__(self, app: Callable, host: str = LOOPBACK, port: int = 0, path: str = "/") -> None:
        self._app = app
        self._host = host
        self._port = port
        self._path = path
        self._server: Optional[BaseWSGIServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise LocalRunError("the server is not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}{self._path}"

    def start(self) -> "HttpServer":
        try:
            self._server = make_server(self._host, self._port, self._app, threaded=True, request_handler=_QuietHandler)
        except (OSError, SystemExit):  # Werkzeug exits when the port is taken
            raise LocalRunError(f"cannot listen on {self._host}:{self._port}: the address is in use or not available") from None
        server = self._server
        # A short poll interval makes stop() quick: shutdown() waits for the serving loop to look.
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), name=f"http {self.url}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None


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
