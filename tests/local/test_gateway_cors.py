"""CORS through the local gateway, end to end: an ApiLambdaTable with a Cognito authorizer and
CORS is synthesized, provisioned on moto's server and served with its real handler on 127.0.0.1.
Success, a request-validation 400 and an authorizer 401 all carry the allowed origin."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import http_client
import pytest

from patterns.local.gateway import ApiServer, build_apis
from patterns.local.model import LocalUserPool
from patterns.local.signin import sign_token

REGION = "us-east-1"


def request(
    server: ApiServer, method: str, path: str, headers: dict | None = None, body: bytes | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request to the served API; ``path`` is below the stage (``/items``)."""
    return http_client.request(server.url, method, path, headers, body)


APP_ORIGIN, FOREIGN_ORIGIN = "https://app.example.com", "https://evil.example"


@pytest.fixture(scope="module")
def cors_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stack with a Cognito-authorized ApiLambdaTable allowing APP_ORIGIN, synthesized once."""
    from aws_cdk import App, RemovalPolicy, Stack
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk import aws_cognito as cognito

    from patterns import ApiLambdaTable

    outdir = tmp_path_factory.mktemp("cors.out")
    app = App(outdir=str(outdir))
    stack = Stack(app, "CorsApi")
    pool = cognito.UserPool(stack, "Pool", removal_policy=RemovalPolicy.DESTROY)
    authorizer = apigw.CognitoUserPoolsAuthorizer(stack, "Authorizer", cognito_user_pools=[pool])
    ApiLambdaTable(
        stack,
        "Items",
        authorizer=authorizer,
        read_scopes=["items/read"],
        write_scopes=["items/write"],
        cors_allow_origins=[APP_ORIGIN],
        table_removal_policy=RemovalPolicy.DESTROY,
    )
    app.synth()
    return outdir


@pytest.fixture
def cors_api(aws: str, cors_assembly: Path) -> Iterator[tuple[ApiServer, LocalUserPool]]:
    from patterns.local.assembly import load_assembly
    from patterns.local.provision import provision
    from patterns.local.workers import FunctionPool

    environment = provision(load_assembly(cors_assembly), aws)
    (pool,) = environment.stack("CorsApi").user_pools.values()
    (api,) = build_apis(environment)
    assert api.notes == []
    with FunctionPool(aws, REGION, log=lambda line: None) as functions:
        server = ApiServer(api, environment, functions.invoke, log=lambda line: None).start()
        try:
            yield server, pool
        finally:
            server.stop()


def access_token(pool: LocalUserPool, scope: str) -> str:
    now = int(time.time())
    claims = {
        "sub": "user-1",
        "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{pool.pool_id}",
        "token_use": "access",
        "scope": scope,
        "iat": now - 10,
        "exp": now + 300,
    }
    return sign_token(claims)


def from_origin(origin: str, token_value: str | None = None) -> dict:
    headers = {"Origin": origin, "Content-Type": "application/json"}
    return {**headers, "Authorization": token_value} if token_value else headers


def test_cors_headers_on_success_validation_errors_and_authorizer_refusals(cors_api) -> None:
    server, pool = cors_api
    reader, writer = access_token(pool, "items/read"), access_token(pool, "items/write")
    success = request(server, "GET", "/items", from_origin(APP_ORIGIN, reader))
    invalid = request(server, "POST", "/items", from_origin(APP_ORIGIN, writer), b'{"name": ""}')
    refused = request(server, "GET", "/items", from_origin(APP_ORIGIN))
    assert [status for status, _, _ in (success, invalid, refused)] == [200, 400, 401]
    for _, headers, _ in (success, invalid, refused):
        assert headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert headers["Vary"] == "Origin"


def test_a_foreign_origin_is_never_allowed(cors_api) -> None:
    server, pool = cors_api
    success = request(server, "GET", "/items", from_origin(FOREIGN_ORIGIN, access_token(pool, "items/read")))
    assert success[0] == 200 and "Access-Control-Allow-Origin" not in success[1]
    writer = access_token(pool, "items/write")
    invalid = request(server, "POST", "/items", from_origin(FOREIGN_ORIGIN, writer), b'{"name": ""}')
    refused = request(server, "GET", "/items", from_origin(FOREIGN_ORIGIN))
    assert [invalid[0], refused[0]] == [400, 401]
    # API Gateway's own answers carry a static header: it names the allowed origin, never the caller's.
    for _, headers, _ in (invalid, refused):
        assert headers["Access-Control-Allow-Origin"] == APP_ORIGIN != FOREIGN_ORIGIN


def test_the_preflight_of_the_synthesized_api_names_the_allowed_origin(cors_api) -> None:
    server, _ = cors_api
    status, headers, _ = request(
        server, "OPTIONS", "/items", {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "POST" in headers["Access-Control-Allow-Methods"]
