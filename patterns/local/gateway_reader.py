"""Reading an API Gateway REST API out of a provisioned stack's template into a :class:`LocalApi`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from . import gateway_stepfunctions
from .gateway_model import (
    DEFAULT_AUTHORIZER_TTL_SECONDS,
    INTEGRATION_TIMEOUT_MS,
    PARAMETER_LOCATIONS,
    GatewayResponseSpec,
    LambdaAuthorizer,
    LocalApi,
    LocalMethod,
    LocalResource,
    MethodAuth,
    MockIntegration,
    MockResponse,
    ProxyIntegration,
    ServiceIntegration,
    UnservedMethod,
    walk,
)
from .gateway_services import served
from .intrinsics import Unresolvable, stack_resolver
from .model import LocalEnvironment, LocalFunction, LocalRunError, LocalStack, LocalUserPool

_LAMBDA_URI = re.compile(r":lambda:path/[^/]+/functions/(?P<arn>.+)/invocations$")
_ACTION_URI = re.compile(r"^arn:[^:]+:apigateway:[^:]*:(?P<service>[^:]+):action/(?P<action>[A-Za-z0-9]+)$")
#: AWS service integrations whose own module reads them and answers itself, by (service, action).
SERVICE_INTEGRATIONS = {
    (gateway_stepfunctions.SERVICE, gateway_stepfunctions.ACTION): gateway_stepfunctions.read_integration,
}


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
        self.resources: dict[str, dict[str, Any]] = stack.template.get("Resources", {})
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
            self._gateway_responses(mine),
        )

    def _belongs(self, resource: dict[str, Any], api_id: str) -> bool:
        rest_api_id = resource.get("Properties", {}).get("RestApiId")
        if rest_api_id is None or not resource.get("Type", "").startswith("AWS::ApiGateway::"):
            return False
        return bool(self.resolver.resolve(rest_api_id) == api_id)

    def _tree(self, root_id: str, mine: Mapping[str, dict[str, Any]]) -> LocalResource:
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

    def _stage(self, mine: Mapping[str, dict[str, Any]]) -> tuple[str, dict[str, str]]:
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

    def _methods(self, root: LocalResource, mine: Mapping[str, dict[str, Any]]) -> None:
        by_id = {resource.resource_id: resource for resource in walk(root)}
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

    def _validator(self, reference: Any) -> dict[str, Any]:
        if reference is None:
            return {}
        return self._referenced(reference, "AWS::ApiGateway::RequestValidator")[1]

    def _models(self, request_models: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        models = {}
        for content_type, reference in request_models.items():
            schema = self._referenced(reference, "AWS::ApiGateway::Model")[1].get("Schema", {})
            models[content_type.lower()] = json.loads(schema) if isinstance(schema, str) else schema
        return models

    def _referenced(self, reference: Any, type_name: str) -> tuple[str, dict[str, Any]]:
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

    def _integration(
        self, logical_id: str, integration: Mapping[str, Any]
    ) -> ProxyIntegration | MockIntegration | ServiceIntegration:
        kind = str(integration.get("Type", ""))
        if kind == "AWS":
            return self._service(logical_id, integration)
        if kind == "AWS_PROXY":
            uri = self.resolver.resolve_string(integration.get("Uri"), f"{logical_id}.Integration.Uri")
            timeout = int(integration.get("TimeoutInMillis", INTEGRATION_TIMEOUT_MS))
            return ProxyIntegration(self._function(uri, "the integration"), timeout)
        if kind == "MOCK":
            return self._mock(logical_id, integration)
        raise _Unservable(
            f"{kind or 'untyped'} integrations are not served locally (only AWS_PROXY to Lambda, MOCK and "
            f"AWS service actions: Kinesis PutRecords, Step Functions StartExecution)"
        )

    def _service(self, logical_id: str, integration: Mapping[str, Any]) -> ServiceIntegration:
        """An AWS service integration: its action's own module (``SERVICE_INTEGRATIONS``), else ``gateway_services``."""
        uri = self.resolver.resolve_string(integration.get("Uri"), f"{logical_id}.Integration.Uri")
        match = _ACTION_URI.match(uri)
        read = SERVICE_INTEGRATIONS.get((match["service"], match["action"])) if match else None
        if match is not None and read is not None:
            try:
                own = read(self.resolver.resolve(dict(integration), f"{logical_id}.Integration"))
            except ValueError as error:
                raise _Unservable(str(error)) from None
            return ServiceIntegration(match["service"], match["action"], {}, (), respond=own.respond)
        if match is None or not served(match["service"], match["action"]):
            raise _Unservable(f"the AWS integration {uri} is not served locally")
        return ServiceIntegration(
            service=match["service"],
            action=match["action"],
            request_templates={
                str(kind): str(template)
                for kind, template in self.resolver.resolve(integration.get("RequestTemplates", {})).items()
            },
            responses=tuple(
                self._mock_response(logical_id, self.resolver.resolve(item), keep_vtl=True)
                for item in integration.get("IntegrationResponses", [])
            ),
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

    def _mock_response(self, logical_id: str, response: Mapping[str, Any], keep_vtl: bool = False) -> MockResponse:
        """An integration response; ``keep_vtl``: its VTL template is kept for the service's own renderer."""
        headers = []
        for target, source in response.get("ResponseParameters", {}).items():
            name = str(target).removeprefix("method.response.header.")
            source = str(source)
            if (source.startswith("'") and source.endswith("'")) or request_source(source) is not None:
                headers.append((name, source))
            else:
                self.notes.append(
                    f"MOCK method {logical_id}: header {name} maps {source}, which is not evaluated locally"
                )
        templates = response.get("ResponseTemplates", {})
        body = str(templates.get("application/json", next(iter(templates.values()), ""))) if templates else ""
        if ("$" in body or "#" in body) and not keep_vtl:
            self.notes.append(
                f"MOCK method {logical_id}: its response template is VTL, which is not evaluated locally "
                "(static header values are served as they are)"
            )
            body = ""
        pattern = response.get("SelectionPattern") or None
        return MockResponse(int(response.get("StatusCode", 200)), pattern, tuple(headers), body)

    def _note_unsupported(self, mine: Mapping[str, dict[str, Any]]) -> None:
        properties = self.resources[self.logical_id].get("Properties", {})
        if "Body" in properties or "BodyS3Location" in properties:
            self.notes.append(
                "the API's OpenAPI definition (Body) is not read locally: only CloudFormation resources are served"
            )

    def _gateway_responses(self, mine: Mapping[str, dict[str, Any]]) -> dict[str, GatewayResponseSpec]:
        """The API's gateway responses by type: their status and headers apply; body templates (VTL) do not."""
        found = {}
        for logical_id, resource in mine.items():
            if resource["Type"] != "AWS::ApiGateway::GatewayResponse":
                continue
            properties = self.resolver.resolve(resource.get("Properties", {}), logical_id)
            headers = []
            for target, source in properties.get("ResponseParameters", {}).items():
                name, source = str(target).removeprefix("gatewayresponse.header."), str(source)
                if (source.startswith("'") and source.endswith("'")) or request_source(source) is not None:
                    headers.append((name, source))
                else:
                    self.notes.append(
                        f"gateway response {logical_id}: header {name} maps {source}, not evaluated locally"
                    )
            if properties.get("ResponseTemplates"):
                self.notes.append(f"gateway response {logical_id}: its body template is not applied locally")
            status = properties.get("StatusCode")
            kind = str(properties.get("ResponseType", ""))
            found[kind] = GatewayResponseSpec(kind, int(status) if status else None, tuple(headers))
        return found


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


def _required_parameters(parameters: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    required = []
    for key, flag in parameters.items():
        parts = str(key).split(".", 3)  # method.request.<location>.<name>
        if flag is True and len(parts) == 4 and parts[2] in PARAMETER_LOCATIONS:
            required.append((parts[2], parts[3]))
    return tuple(required)


def _header_source(source: str) -> str:
    prefix = "method.request.header."
    if not source.startswith(prefix):
        raise _Unservable(f"identity source {source} is not a header")
    return source[len(prefix) :]


def _identity_source(source: str) -> tuple[str, str]:
    found = request_source(source)
    if found is None or found[0] == "path":
        raise _Unservable(f"identity source {source} is not supported locally (only headers and query strings)")
    return found


def request_source(source: str) -> tuple[str, str] | None:
    """``method.request.header.X`` -> ("header", "X"); None when it names no request parameter."""
    parts = source.split(".", 3)
    if len(parts) == 4 and parts[:2] == ["method", "request"] and parts[2] in PARAMETER_LOCATIONS:
        return parts[2], parts[3]
    return None
