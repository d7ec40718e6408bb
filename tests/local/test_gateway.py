"""The local API Gateway: routing, authorizers, validators, proxy events and responses, MOCK integrations.

The stack is built by hand (template + the values a provisioner would record), with a Cognito pool
on moto's server and a fake ``invoke`` that records events and returns canned invocations.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit

import boto3
import pytest

import http_client
from patterns.local.gateway import (
    ApiServer,
    LocalMethod,
    ProxyIntegration,
    UnservedMethod,
    build_apis,
)
from patterns.local.model import (
    Invocation,
    LocalEnvironment,
    LocalFunction,
    LocalStack,
    LocalUserPool,
)
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


def reply(status: int, body: Optional[str] = None, **fields: Any) -> Invocation:
    return Invocation(request_id=str(uuid.uuid4()), payload={"statusCode": status, "body": body, **fields})


@pytest.fixture
def pool(aws: str) -> LocalUserPool:
    cognito = boto3.client("cognito-idp", endpoint_url=aws, region_name=REGION)
    created = cognito.create_user_pool(PoolName="demo")["UserPool"]
    client = cognito.create_user_pool_client(UserPoolId=created["Id"], ClientName="app")["UserPoolClient"]
    return LocalUserPool(
        "Demo",
        "Pool",
        created["Id"],
        created["Arn"],
        {"App": client["ClientId"]},
        ["admins", "readers"],
        ["items/read", "items/write"],
    )


@pytest.fixture
def invoke() -> FakeInvoke:
    return FakeInvoke()


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def server(aws: str, pool: LocalUserPool, invoke: FakeInvoke, lines: list[str]) -> Iterator[ApiServer]:
    environment = local_environment(aws, pool)
    (api,) = build_apis(environment)
    running = ApiServer(api, environment, invoke, log=lines.append).start()
    try:
        yield running
    finally:
        running.stop()


def request(
    server: ApiServer, method: str, path: str, headers: Optional[dict] = None, body: Optional[bytes] = None
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


# -- reading the template --------------------------------------------------------------------------


def test_build_reads_routes_stage_integrations_and_what_it_cannot_serve(aws: str, pool: LocalUserPool) -> None:
    (api,) = build_apis(local_environment(aws, pool))

    assert (api.stack, api.logical_id, api.api_id, api.stage) == ("Demo", "Api", "a1b2c3d4e5", "prod")
    assert api.stage_variables == {"color": "blue"}
    assert api.binary_media_types == ("image/png",)
    assert ("GET", "/items/{id}") in api.routes() and ("ANY", "/files/{proxy+}") in api.routes()
    item = next(child for child in api.root.children if child.part == "items").children[0]
    get = item.methods["GET"]
    assert isinstance(get, LocalMethod) and isinstance(get.integration, ProxyIntegration)
    assert get.integration.function.logical_id == "Fn"  # the alias ARN maps to its function
    assert get.auth.scopes == ("items/read",) and get.auth.user_pools[0].pool_id == pool.pool_id
    assert get.required_parameters == (("path", "id"),) and get.validate_parameters
    legacy = next(child for child in api.root.children if child.part == "legacy").methods["GET"]
    assert isinstance(legacy, UnservedMethod)
    assert any("LegacyGET" in note and "HTTP_PROXY" in note for note in api.notes)


# -- routing ---------------------------------------------------------------------------------------


def test_unknown_paths_methods_and_stages_are_refused_like_api_gateway(server: ApiServer, invoke: FakeInvoke) -> None:
    assert request(server, "GET", "/nothing")[0] == 403
    status, headers, body = request(server, "PATCH", "/items")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    assert headers["Content-Type"] == "application/json" and headers["x-amzn-RequestId"]
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", "/dev/items")
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (403, {"message": "Forbidden"})
    connection.close()
    assert invoke.calls == []


def test_path_parameters_and_greedy_proxy_reach_the_function(
    server: ApiServer, invoke: FakeInvoke, pool: LocalUserPool
) -> None:
    assert request(server, "PUT", "/files/reports/2026/a%20b.txt", body=b"x")[0] == 200
    assert request(server, "GET", "/items/42", bearer(token(pool)))[0] == 200

    files, item = invoke.events()
    assert files["resource"] == "/files/{proxy+}" and files["pathParameters"] == {"proxy": "reports/2026/a b.txt"}
    assert files["httpMethod"] == "PUT" and files["requestContext"]["resourcePath"] == "/files/{proxy+}"
    assert item["resource"] == "/items/{id}" and item["path"] == "/items/42" and item["pathParameters"] == {"id": "42"}
    assert item["requestContext"]["path"] == "/prod/items/42"


# -- Cognito authorizer ----------------------------------------------------------------------------


def test_missing_malformed_tampered_foreign_and_expired_tokens_are_401(
    server: ApiServer, invoke: FakeInvoke, pool: LocalUserPool
) -> None:
    header, payload, signature = token(pool).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "items/read items/write"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    foreign = token(pool, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other")

    for headers in ({}, bearer("not-a-jwt"), bearer(f"{header}.{forged}.{signature}"), bearer(foreign)):
        status, _, body = request(server, "GET", "/items", headers)
        assert (status, json.loads(body)) == (401, {"message": "Unauthorized"}), headers
    status, _, body = request(server, "GET", "/items", bearer(token(pool, lifetime=-60)))
    assert (status, json.loads(body)) == (401, {"message": "The incoming token has expired"})
    assert invoke.calls == []


def test_scopes_are_enforced_and_the_function_sees_the_claims(
    server: ApiServer, invoke: FakeInvoke, pool: LocalUserPool
) -> None:
    assert request(server, "GET", "/items", bearer(token(pool, scope="items/write")))[0] == 401
    assert request(server, "GET", "/items", bearer(token(pool, "id")))[0] == 401  # scoped methods want access tokens
    assert (
        request(
            server, "POST", "/items", {**bearer(token(pool)), "Content-Type": "application/json"}, b'{"name": "a"}'
        )[0]
        == 401
    )
    assert invoke.calls == []

    status, _, _ = request(server, "GET", "/items?limit=5", bearer("Bearer " + token(pool, scope="openid items/read")))
    assert status == 200
    (event,) = invoke.events()
    claims = event["requestContext"]["authorizer"]["claims"]
    assert claims["sub"] == "user-1" and claims["cognito:groups"] == "admins,readers"
    assert claims["scope"] == "openid items/read" and claims["version"] == "2"
    assert claims["exp"].endswith(time.strftime("%Y", time.gmtime())) and " UTC " in claims["exp"]
    assert claims["auth_time"].isdigit()


def test_methods_without_scopes_accept_id_tokens_only(
    server: ApiServer, invoke: FakeInvoke, pool: LocalUserPool
) -> None:
    assert request(server, "GET", "/profile", bearer(token(pool, "access")))[0] == 401
    assert request(server, "GET", "/profile", bearer(token(pool, "id")))[0] == 200
    claims = invoke.events()[0]["requestContext"]["authorizer"]["claims"]
    assert claims["email_verified"] == "true" and claims["aud"] == pool.client_ids["App"]


# -- IAM and Lambda authorizers --------------------------------------------------------------------


def test_iam_methods_want_a_sigv4_header(server: ApiServer, invoke: FakeInvoke, lines: list[str]) -> None:
    status, _, body = request(server, "DELETE", "/items/1")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    status, _, body = request(server, "DELETE", "/items/1", bearer("Bearer abc"))
    assert status == 403 and json.loads(body)["message"].startswith(
        "Authorization header requires 'Credential' parameter."
    )
    assert invoke.calls == []

    signed = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20260101/us-east-1/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0123abcd",
        "X-Amz-Date": "20260101T000000Z",
    }
    assert request(server, "DELETE", "/items/1", signed)[0] == 200
    assert invoke.events()[0]["requestContext"]["identity"]["accessKey"] == "AKIDLOCAL"
    assert any("not verified locally" in line for line in lines)


def _policy(effect: str, resource: str) -> dict:
    return {
        "principalId": "user-7",
        "context": {"tier": "gold", "admin": True},
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }


def test_token_authorizer_policy_context_and_cache(server: ApiServer, invoke: FakeInvoke) -> None:
    def answer(function: LocalFunction, event: dict) -> Invocation:
        if function.logical_id == "Fn":
            return reply(200, "{}")
        if event["authorizationToken"] == "deny":
            return Invocation("a", payload=_policy("Deny", "*"))
        if event["authorizationToken"] == "bad":
            return Invocation("a", error={"errorType": "Exception", "errorMessage": "Unauthorized"})
        return Invocation("a", payload=_policy("Allow", "arn:aws:execute-api:us-east-1:*:a1b2c3d4e5/prod/GET/*"))

    invoke.answer = answer
    assert request(server, "GET", "/custom")[0] == 401
    assert request(server, "GET", "/custom", {"X-Token": "good"})[0] == 200
    assert request(server, "GET", "/custom", {"X-Token": "good"})[0] == 200
    status, _, body = request(server, "GET", "/custom", {"X-Token": "deny"})
    assert (status, json.loads(body)) == (
        403,
        {"Message": "User is not authorized to access this resource with an explicit deny"},
    )
    assert request(server, "GET", "/custom", {"X-Token": "bad"})[0] == 401

    authorizer_events = invoke.events("AuthFn")
    assert [event["authorizationToken"] for event in authorizer_events] == ["good", "deny", "bad"]  # "good" was cached
    assert authorizer_events[0]["methodArn"] == f"arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3d4e5/prod/GET/custom"
    assert invoke.events()[0]["requestContext"]["authorizer"] == {
        "principalId": "user-7",
        "tier": "gold",
        "admin": "true",
    }


# -- request validation ----------------------------------------------------------------------------


def test_validator_refuses_missing_parameters_and_bad_bodies_without_invoking(
    server: ApiServer, invoke: FakeInvoke, pool: LocalUserPool
) -> None:
    status, _, body = request(server, "GET", "/search?page=2")
    assert (status, json.loads(body)) == (400, {"message": "Missing required request parameters: [q, X-Tenant]"})
    status, _, body = request(server, "GET", "/search?q=", {"X-Tenant": "t1"})
    assert json.loads(body) == {"message": "Missing required request parameters: [q]"}

    write = {**bearer(token(pool, scope="items/write")), "Content-Type": "application/json"}
    for bad in (b'{"name": ""}', b'{"name": "a", "colour": "red"}', b'{"name": "a", "quantity": 1.5}', b"name=a", b""):
        status, _, body = request(server, "POST", "/items", write, bad)
        assert (status, json.loads(body)) == (400, {"message": "Invalid request body"}), bad
    assert invoke.calls == []

    assert request(server, "GET", "/search?q=lamp", {"X-Tenant": "t1"})[0] == 200
    assert request(server, "POST", "/items", write, b'{"name": "lamp", "quantity": 2}')[0] == 200
    assert len(invoke.calls) == 2


# -- the proxy event and response ------------------------------------------------------------------


def test_proxy_event_has_the_rest_api_v1_shape(server: ApiServer, invoke: FakeInvoke) -> None:
    request(
        server,
        "POST",
        "/files/a?tag=x&tag=y&one=1",
        {"Content-Type": "text/plain", "User-Agent": "tests"},
        "héllo".encode(),
    )
    request(server, "POST", "/files/b", {"Content-Type": "image/png"}, b"\x89PNG\x00")

    text, binary = invoke.events()
    assert text["body"] == "héllo" and text["isBase64Encoded"] is False
    assert text["queryStringParameters"] == {"tag": "y", "one": "1"}
    assert text["multiValueQueryStringParameters"] == {"tag": ["x", "y"], "one": ["1"]}
    assert text["headers"]["User-Agent"] == "tests" and text["multiValueHeaders"]["Content-Type"] == ["text/plain"]
    assert text["headers"]["X-Forwarded-Proto"] == "http" and text["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert text["stageVariables"] == {"color": "blue"}
    context = text["requestContext"]
    assert {key: context[key] for key in ("accountId", "apiId", "stage", "httpMethod", "resourceId", "protocol")} == {
        "accountId": ACCOUNT,
        "apiId": "a1b2c3d4e5",
        "stage": "prod",
        "httpMethod": "POST",
        "resourceId": "filesproxy-id",
        "protocol": "HTTP/1.1",
    }
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["userAgent"] == "tests"
    assert context["requestId"] and context["extendedRequestId"] and context["requestTimeEpoch"] > 0
    assert "authorizer" not in context
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\x89PNG\x00"
    assert binary["queryStringParameters"] is None and binary["pathParameters"] == {"proxy": "b"}


def test_proxy_response_maps_status_headers_multi_value_headers_and_base64(
    server: ApiServer, invoke: FakeInvoke
) -> None:
    png = base64.b64encode(b"\x89PNG-bytes").decode()
    invoke.answer = lambda function, event: reply(
        201,
        png,
        isBase64Encoded=True,
        headers={"Content-Type": "image/png", "X-One": "1", "Set-Cookie": "ignored=1"},
        multiValueHeaders={"Set-Cookie": ["a=1", "b=2"]},
    )

    status, headers, body = request(server, "GET", "/files/x.png", {"Accept": "image/png"})
    assert (status, body) == (201, b"\x89PNG-bytes")
    assert headers["X-One"] == "1" and headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    # Without a binary Accept type API Gateway passes the base64 text through, as here.
    assert request(server, "GET", "/files/x.png", {"Accept": "application/json"})[2] == png.encode()

    invoke.answer = lambda function, event: Invocation("r", payload={"statusCode": 200, "body": '{"ok": true}'})
    status, headers, body = request(server, "GET", "/files/x")
    assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", {"ok": True})


@pytest.mark.parametrize(
    "invocation",
    [
        Invocation("r", error={"errorType": "KeyError", "errorMessage": "'id'", "stackTrace": []}),
        Invocation(
            "r",
            error={"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 10.00 seconds"},
            timed_out=True,
        ),
        Invocation("r", payload="just a string"),
        Invocation("r", payload={"statusCode": 200, "body": {"not": "a string"}}),
        Invocation("r", payload={"statusCode": 200, "body": "{}", "extra": 1}),
        Invocation("r", payload={"body": "{}"}),
    ],
    ids=["error", "function-timeout", "not-an-object", "body-object", "extra-field", "no-status"],
)
def test_function_errors_and_malformed_responses_are_502(
    server: ApiServer, invoke: FakeInvoke, lines: list[str], invocation: Invocation
) -> None:
    invoke.answer = lambda function, event: invocation
    status, _, body = request(server, "GET", "/files/x")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    assert "-> 502" in lines[-1] and "Fn r" in lines[-1]


def test_integration_timeout_is_504(server: ApiServer, invoke: FakeInvoke) -> None:
    release = threading.Event()

    def slow(function: LocalFunction, event: dict) -> Invocation:
        release.wait(5)
        return reply(200, "{}")

    invoke.answer = slow
    started = time.monotonic()
    status, _, body = request(server, "GET", "/slow")
    release.set()
    assert (status, json.loads(body)) == (504, {"message": "Endpoint request timed out"})
    assert time.monotonic() - started < 2


# -- MOCK, unserved methods and the log ------------------------------------------------------------


def test_cors_preflight_is_answered_by_the_mock_integration(server: ApiServer, invoke: FakeInvoke) -> None:
    status, headers, body = request(server, "OPTIONS", "/items", {"Origin": "https://app.example.com"})
    assert (status, body) == (204, b"")
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS" and headers["Vary"] == "Origin"
    assert invoke.calls == []


def test_unserved_methods_answer_500_and_the_log_says_why(server: ApiServer, lines: list[str]) -> None:
    status, _, body = request(server, "GET", "/legacy")
    assert (status, json.loads(body)) == (500, {"message": "Internal server error"})
    assert "GET /prod/legacy -> 500" in lines[-1] and "HTTP_PROXY" in lines[-1]


def test_one_log_line_per_request_with_the_function_request_id(
    server: ApiServer, invoke: FakeInvoke, lines: list[str]
) -> None:
    invoke.answer = lambda function, event: Invocation("req-123", payload={"statusCode": 200, "body": "{}"})
    request(server, "GET", "/files/x?debug=1")
    (line,) = lines
    assert line.startswith("[Demo] GET /prod/files/x?debug=1 -> 200 (") and line.endswith("ms) Fn req-123")


# -- the real demo stack, provisioned --------------------------------------------------------------


def test_items_service_demo_provisioned_signs_in_and_serves_its_api(
    aws: str, demo_app: Any, invoke: FakeInvoke
) -> None:
    """ItemsServiceDemo through the provisioner: a signed-in admin reads items; the function sees her groups."""
    from patterns.local.assembly import load_assembly
    from patterns.local.provision import LocalUser, provision
    from patterns.local.signin import SignInServer, sign_in

    environment = provision(
        load_assembly(demo_app.outdir, ["ItemsServiceDemo"]),
        aws,
        users=[LocalUser("ada@example.com", "Str0ng-Passw0rd!", ("admins",))],
    )
    stack = environment.stack("ItemsServiceDemo")
    (pool,) = stack.user_pools.values()
    (client_id,) = pool.client_ids.values()
    (api,) = build_apis(environment)
    assert api.stage == "prod" and ("DELETE", "/items/{id}") in api.routes()
    assert api.notes == [], f"synth error: {demo_app.error}; not provisioned: {stack.skipped}"

    sign_in_server = SignInServer(pool, environment, log=lambda line: None).start()
    api_server = ApiServer(api, environment, invoke, log=lambda line: None).start()
    try:
        tokens = sign_in(
            sign_in_server.url, client_id, None, "ada@example.com", "Str0ng-Passw0rd!", ["openid", "items/read"]
        )
        assert (
            request(
                api_server,
                "POST",
                "/items",
                {**bearer(tokens["access_token"]), "Content-Type": "application/json"},
                b'{"name": "lamp"}',
            )[0]
            == 401
        )  # items/write was not granted
        assert request(api_server, "GET", "/items/lamp-1", bearer(tokens["access_token"]))[0] == 200
    finally:
        api_server.stop()
        sign_in_server.stop()

    ((function, event),) = invoke.calls
    assert stack.functions[function].handler.endswith("handler") and event["pathParameters"] == {"id": "lamp-1"}
    assert event["requestContext"]["authorizer"]["claims"]["cognito:groups"] == "admins"
