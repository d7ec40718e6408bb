"""The API the local gateway tests serve, built by hand, and how the tests call it.

The stack is a template plus the values a provisioner would record, with a Cognito pool on moto's
server (the ``pool`` fixture in this folder's conftest.py) and a fake ``invoke`` that records events
and returns canned invocations.
"""

from __future__ import annotations

import http.client
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import http_client

from patterns.local.gateway import ApiServer
from patterns.local.model import Invocation, LocalEnvironment, LocalFunction, LocalStack, LocalUserPool
from patterns.local.signin import sign_token

REGION, ACCOUNT = "us-east-1", "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:items-fn"
AUTHORIZER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:auth-fn"
CORS_HEADERS = {
    "method.response.header.Access-Control-Allow-Origin": "'https://app.example.com'",
    "method.response.header.Access-Control-Allow-Methods": "'GET,POST,OPTIONS'",
    "method.response.header.Vary": "'Origin'",
}


# -- the stack -------------------------------------------------------------------------------------


def _lambda_uri(target: Any) -> dict:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":apigateway:",
                {"Ref": "AWS::Region"},
                ":lambda:path/2015-03-31/functions/",
                target,
                "/invocations",
            ],
        ]
    }


def _proxy(target: Any = None, **extra: Any) -> dict:
    return {
        "Type": "AWS_PROXY",
        "IntegrationHttpMethod": "POST",
        "Uri": _lambda_uri(target or {"Ref": "Alias"}),
        **extra,
    }


def _resource(parent: Any, part: str) -> dict:
    return {
        "Type": "AWS::ApiGateway::Resource",
        "Properties": {"ParentId": parent, "PathPart": part, "RestApiId": {"Ref": "Api"}},
    }


def _method(resource: str, verb: str, integration: dict, **properties: Any) -> dict:
    parent = {"Fn::GetAtt": ["Api", "RootResourceId"]} if resource == "root" else {"Ref": resource}
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "HttpMethod": verb,
            "ResourceId": parent,
            "RestApiId": {"Ref": "Api"},
            "AuthorizationType": "NONE",
            "Integration": integration,
            **properties,
        },
    }


def _cognito(*scopes: str) -> dict:
    scoped = {"AuthorizationScopes": list(scopes)} if scopes else {}
    return {"AuthorizationType": "COGNITO_USER_POOLS", "AuthorizerId": {"Ref": "Authorizer"}, **scoped}


VALIDATED = {"RequestValidatorId": {"Ref": "Validator"}}
ITEM_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "quantity": {"type": "integer", "minimum": 0}},
}


def api_template() -> dict:
    root = {"Fn::GetAtt": ["Api", "RootResourceId"]}
    resources = {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "Api", "BinaryMediaTypes": ["image~1png"]}},
        "Deployment": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": {"Ref": "Api"}}},
        "Stage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "DeploymentId": {"Ref": "Deployment"},
                "StageName": "prod",
                "Variables": {"color": "blue"},
            },
        },
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "Alias": {"Type": "AWS::Lambda::Alias", "Properties": {"FunctionName": {"Ref": "Fn"}, "Name": "live"}},
        "AuthFn": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "Pool": {"Type": "AWS::Cognito::UserPool", "Properties": {}},
        "Authorizer": {
            "Type": "AWS::ApiGateway::Authorizer",
            "Properties": {
                "Type": "COGNITO_USER_POOLS",
                "RestApiId": {"Ref": "Api"},
                "IdentitySource": "method.request.header.Authorization",
                "ProviderARNs": [{"Fn::GetAtt": ["Pool", "Arn"]}],
            },
        },
        "TokenAuthorizer": {
            "Type": "AWS::ApiGateway::Authorizer",
            "Properties": {
                "Type": "TOKEN",
                "RestApiId": {"Ref": "Api"},
                "IdentitySource": "method.request.header.X-Token",
                "AuthorizerUri": _lambda_uri({"Fn::GetAtt": ["AuthFn", "Arn"]}),
                "AuthorizerResultTtlInSeconds": 300,
            },
        },
        "Validator": {
            "Type": "AWS::ApiGateway::RequestValidator",
            "Properties": {"RestApiId": {"Ref": "Api"}, "ValidateRequestBody": True, "ValidateRequestParameters": True},
        },
        "ItemModel": {
            "Type": "AWS::ApiGateway::Model",
            "Properties": {"RestApiId": {"Ref": "Api"}, "ContentType": "application/json", "Schema": ITEM_SCHEMA},
        },
        "Items": _resource(root, "items"),
        "Item": _resource({"Ref": "Items"}, "{id}"),
        "Profile": _resource(root, "profile"),
        "Search": _resource(root, "search"),
        "Files": _resource(root, "files"),
        "FilesProxy": _resource({"Ref": "Files"}, "{proxy+}"),
        "Slow": _resource(root, "slow"),
        "Legacy": _resource(root, "legacy"),
        "Custom": _resource(root, "custom"),
        "ItemsGET": _method(
            "Items",
            "GET",
            _proxy(),
            **_cognito("items/read"),
            RequestParameters={"method.request.querystring.limit": False},
            **VALIDATED,
        ),
        "ItemsPOST": _method(
            "Items",
            "POST",
            _proxy(),
            **_cognito("items/write"),
            RequestModels={"application/json": {"Ref": "ItemModel"}},
            **VALIDATED,
        ),
        "ItemsOPTIONS": _method(
            "Items",
            "OPTIONS",
            {
                "Type": "MOCK",
                "RequestTemplates": {"application/json": "{ statusCode: 200 }"},
                "IntegrationResponses": [{"StatusCode": "204", "ResponseParameters": CORS_HEADERS}],
            },
        ),
        "ItemGET": _method(
            "Item",
            "GET",
            _proxy(),
            **_cognito("items/read"),
            RequestParameters={"method.request.path.id": True},
            **VALIDATED,
        ),
        "ItemDELETE": _method("Item", "DELETE", _proxy(), AuthorizationType="AWS_IAM"),
        "ProfileGET": _method("Profile", "GET", _proxy(), **_cognito()),
        "SearchGET": _method(
            "Search",
            "GET",
            _proxy(),
            **VALIDATED,
            RequestParameters={
                "method.request.querystring.q": True,
                "method.request.header.X-Tenant": True,
                "method.request.querystring.page": False,
            },
        ),
        "FilesANY": _method("FilesProxy", "ANY", _proxy({"Fn::GetAtt": ["Fn", "Arn"]})),
        "SlowGET": _method("Slow", "GET", _proxy(TimeoutInMillis=300)),
        "LegacyGET": _method("Legacy", "GET", {"Type": "HTTP_PROXY", "Uri": "https://legacy.example.com/"}),
        "CustomGET": _method(
            "Custom", "GET", _proxy(), AuthorizationType="CUSTOM", AuthorizerId={"Ref": "TokenAuthorizer"}
        ),
    }
    return {"Resources": resources}


def _function(logical_id: str, name: str) -> LocalFunction:
    return LocalFunction(
        "Demo",
        logical_id,
        name,
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        Path("."),
        "app.handler",
        "python3.12",
        10,
        256,
        {},
    )


def local_environment(endpoint: str, pool: LocalUserPool) -> LocalEnvironment:
    template = api_template()
    refs: dict[str, Any] = {logical_id: f"{logical_id.lower()}-id" for logical_id in template["Resources"]}
    refs.update(Api="a1b2c3d4e5", Fn="items-fn", Alias=f"{FUNCTION_ARN}:live", AuthFn="auth-fn", Pool=pool.pool_id)
    attributes = {
        ("Api", "RootResourceId"): "root-id",
        ("Pool", "Arn"): pool.arn,
        ("Fn", "Arn"): FUNCTION_ARN,
        ("AuthFn", "Arn"): AUTHORIZER_ARN,
    }
    functions = {"Fn": _function("Fn", "items-fn"), "AuthFn": _function("AuthFn", "auth-fn")}
    stack = LocalStack("Demo", template, refs, attributes, functions, [], {"Pool": pool})
    return LocalEnvironment(endpoint, REGION, [stack])


class FakeInvoke:
    """Records every invocation; answers with ``answer(function, event)`` (200 and an empty object by default)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.answer: Callable[[LocalFunction, dict], Invocation] = lambda function, event: reply(200, "{}")

    def __call__(self, function: LocalFunction, event: dict) -> Invocation:
        self.calls.append((function.logical_id, event))
        return self.answer(function, event)

    def events(self, logical_id: str = "Fn") -> list[dict]:
        return [event for called, event in self.calls if called == logical_id]


def reply(status: int, body: str | None = None, **fields: Any) -> Invocation:
    return Invocation(request_id=str(uuid.uuid4()), payload={"statusCode": status, "body": body, **fields})


def request(
    server: ApiServer, method: str, path: str, headers: dict | None = None, body: bytes | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request to the served API; ``path`` is below the stage (``/items``)."""
    return http_client.request(server.url, method, path, headers, body)


def token(
    pool: LocalUserPool, token_use: str = "access", scope: str = "items/read", lifetime: int = 300, **extra: Any
) -> str:
    now = int(time.time())
    claims = {
        "sub": "user-1",
        "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{pool.pool_id}",
        "token_use": token_use,
        "auth_time": now,
        "iat": now - 10,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
        "cognito:groups": ["admins", "readers"],
        **extra,
    }
    if token_use == "access":
        claims.update(scope=scope, client_id=pool.client_ids["App"], username="user-1", version=2)
    else:
        claims.update(aud=pool.client_ids["App"], email="ada@example.com", email_verified=True)
    return sign_token(claims)


def bearer(value: str) -> dict:
    return {"Authorization": value}
