"""The local API Gateway: reading the template, routing, MOCK integrations, unserved methods and the log.

The stack is built by hand (tests/local/gateway_stack.py) and served by the fixtures in conftest.py;
authorizers and validation are in test_gateway_auth.py, the proxy event and response in
test_gateway_proxy.py.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from gateway_stack import FakeInvoke, bearer, local_environment, request, token

from patterns.local.gateway import ApiServer, LocalMethod, ProxyIntegration, UnservedMethod, build_apis
from patterns.local.model import Invocation, LocalUserPool

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
