"""The items API's own router (lambda_src/items_api/router.py): matching, errors, CORS, the answer's shape.

The handler's answers through it are in test_items_api*.py; here the router alone, and what the
handler gets from it that those tests do not reach (preflights, trailing slashes, the imports).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fresh_import import modules_after_import
from handler_loader import load_handler
from items_api_harness import call, create

# GET requests record no metric; Powertools warns about that on every such invocation.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ALLOW_HEADERS = "Authorization,Content-Type,X-Amz-Date,X-Amz-Security-Token,X-Api-Key"


@pytest.fixture(scope="module")
def router_module():
    return load_handler("items_api", "router")


def event(method: str, path: str, headers: dict[str, str] | None = None, multi: dict | None = None) -> dict[str, Any]:
    return {"httpMethod": method, "path": path, "headers": headers, "multiValueHeaders": multi, "body": None}


def make_app(router_module, origins: list[str] | None = None):
    app = router_module.Router(origins)

    @app.get("/things")
    def list_things() -> dict[str, Any]:
        return {"things": [], "query": app.current_event.query_string_parameters}

    @app.get("/things/<thing_id>")
    def get_thing(thing_id: str) -> dict[str, Any]:
        return {"id": thing_id}

    @app.delete("/things/<thing_id>")
    def delete_thing(thing_id: str):
        if thing_id == "boom":
            raise KeyError(thing_id)
        if thing_id == "bad":
            raise ValueError("bad id")
        return router_module.Response(204, body="")

    return app


def test_a_route_gets_its_path_parameter_and_its_dict_is_a_compact_json_200(router_module):
    reply = make_app(router_module).resolve(event("GET", "/things/a-1"))
    assert reply == {
        "statusCode": 200,
        "body": '{"id":"a-1"}',
        "isBase64Encoded": False,
        "multiValueHeaders": {"Content-Type": ["application/json"]},
    }


@pytest.mark.parametrize("path", ["/things/x/", "/things/x//"])
def test_trailing_slashes_are_ignored(router_module, path):
    assert json.loads(make_app(router_module).resolve(event("GET", path))["body"]) == {"id": "x"}


def test_the_method_is_matched_whatever_its_case(router_module):
    assert make_app(router_module).resolve(event("get", "/things"))["statusCode"] == 200


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/other"), ("GET", "/things/a/b"), ("POST", "/things"), ("PUT", "/things/x"), ("GET", "/things/\u2603")],
)
def test_no_route_without_a_not_found_handler_is_a_404(router_module, method, path):
    reply = make_app(router_module).resolve(event(method, path))
    assert (reply["statusCode"], json.loads(reply["body"])) == (404, {"statusCode": 404, "message": "Not found"})


def test_the_not_found_handler_answers_for_a_wrong_method(router_module):
    app = make_app(router_module)
    app.not_found(lambda: router_module.Response(405, body="", headers={"Allow": app.current_event.method}))
    assert app.resolve(event("PATCH", "/things/x"))["multiValueHeaders"] == {"Allow": ["PATCH"]}


def test_an_error_goes_to_the_handler_of_its_nearest_class(router_module):
    app = make_app(router_module)
    app.exception_handler(Exception)(lambda error: router_module.Response(500, body="any"))
    app.exception_handler(LookupError)(lambda error: router_module.Response(404, body=f"lookup {error}"))
    assert app.resolve(event("DELETE", "/things/boom"))["body"] == "lookup 'boom'"
    assert app.resolve(event("DELETE", "/things/bad"))["body"] == "any"
    assert app.resolve(event("DELETE", "/things/ok"))["statusCode"] == 204


def test_an_error_without_a_handler_propagates(router_module):
    with pytest.raises(ValueError, match="bad id"):
        make_app(router_module).resolve(event("DELETE", "/things/bad"))


def test_current_event_is_only_there_while_resolving(router_module):
    app = make_app(router_module)
    app.resolve(event("GET", "/things"))
    with pytest.raises(RuntimeError):
        _ = app.current_event


def test_with_cors_an_options_request_no_route_takes_is_a_preflight(router_module):
    app = make_app(router_module, ["https://a.example"])
    reply = app.resolve(event("OPTIONS", "/anything", multi={"Origin": ["https://a.example"]}))
    assert reply == {
        "statusCode": 204,
        "body": "",
        "isBase64Encoded": False,
        "multiValueHeaders": {
            "Access-Control-Allow-Methods": ["DELETE,GET,OPTIONS"],
            "Access-Control-Allow-Origin": ["https://a.example"],
            "Access-Control-Allow-Headers": [ALLOW_HEADERS],
        },
    }


@pytest.mark.parametrize(
    "origins, headers, multi, named",
    [
        (["https://a.example"], None, {"origin": ["https://a.example"]}, "https://a.example"),
        (["https://a.example"], {"ORIGIN": "https://a.example"}, None, "https://a.example"),
        # multiValueHeaders, when the event has any, are the headers read (as API Gateway fills both)
        (["https://a.example"], {"Origin": "https://a.example"}, {"Accept": ["*/*"]}, None),
        (["https://a.example"], None, {"Origin": ["https://b.example"]}, None),
        (["https://a.example"], None, None, None),
        (["*"], None, {"Origin": ["https://b.example"]}, "*"),
        (None, None, {"Origin": ["https://a.example"]}, None),
    ],
)
def test_an_allowed_origin_is_named(router_module, origins, headers, multi, named):
    reply = make_app(router_module, origins).resolve(event("GET", "/things", headers, multi))
    cors = {name: values for name, values in reply["multiValueHeaders"].items() if name.startswith("Access-Control")}
    expected = {"Access-Control-Allow-Origin": [named], "Access-Control-Allow-Headers": [ALLOW_HEADERS]}
    assert cors == (expected if named else {})


# --- through the items API handler ---------------------------------------------------------------


def test_the_handler_answers_a_trailing_slash_as_without_it(api):
    create(api, id="t1")
    assert call(api, "GET", "/items/").body["items"][0]["id"] == "t1"
    assert call(api, "GET", "/items/t1/").body["id"] == "t1"


def test_without_cors_options_is_a_wrong_method(api):
    reply = call(api, "OPTIONS", "/items")
    assert (reply.status, reply.headers["Allow"]) == (405, "GET, POST")


def test_with_cors_options_is_answered_as_a_preflight(aws, monkeypatch):
    from items_api_harness import PK, api_event, create_table, invoke, load_api

    create_table(PK)
    monkeypatch.setenv("PARTITION_KEY", PK)
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://app.example.com")
    api = load_api(monkeypatch)
    request = api_event("OPTIONS", "/items/x1")
    request["multiValueHeaders"]["Origin"] = ["https://app.example.com"]
    reply = invoke(api, request)
    assert (reply.status, reply.raw_body) == (204, "")
    assert reply.headers["Access-Control-Allow-Methods"] == "DELETE,GET,OPTIONS,POST,PUT"
    assert reply.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert reply.headers["Vary"] == "Origin"


def test_a_cold_start_imports_no_powertools_event_handler_but_traces_botocore():
    loaded = modules_after_import("items_api", {"TABLE_NAME": "items", "POWERTOOLS_SERVICE_NAME": "items-api"})
    assert not {name for name in loaded if name.startswith("aws_lambda_powertools.event_handler")}
    assert "aws_xray_sdk.ext.botocore.patch" in loaded  # the Tracer still patches the SDK
