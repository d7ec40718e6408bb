"""What API Gateway adds in front of the items API handler: the caller from the Cognito authorizer, the browser's Origin."""

from __future__ import annotations

import json
from typing import Any

import pytest
from items_api_harness import PK, Api, Reply, api_event, create, create_table, invoke, load_api, raw_table

# GET requests record no metric; Powertools warns about that on every such invocation.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


# --- the caller (behind a Cognito user-pool authorizer) ------------------------------------------


@pytest.fixture
def admin_api(aws, monkeypatch) -> Api:
    create_table(PK)
    monkeypatch.setenv("PARTITION_KEY", PK)
    monkeypatch.setenv("ADMIN_GROUP", "admins")
    return load_api(monkeypatch)


def as_caller(event: dict, claims: dict | None) -> dict:
    """What a Cognito user-pool authorizer adds: the access token's claims, as text values."""
    if claims is not None:
        event["requestContext"]["authorizer"] = {"claims": claims}
    return event


def delete_as(api: Api, item_id: str, claims: dict | None) -> Reply:
    return invoke(api, as_caller(api_event("DELETE", f"/items/{item_id}"), claims))


@pytest.mark.parametrize("groups", ["[admins]", "[readers admins]", "admins,readers", ["admins"]])
def test_an_admin_may_delete(admin_api, groups):
    item = create(admin_api)
    reply = delete_as(admin_api, item["id"], {"sub": "user-1", "cognito:groups": groups})
    assert reply.status == 204
    assert raw_table() == []


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"sub": "user-2", "cognito:groups": "[readers]"}, "only members of the 'admins' group may delete items"),
        ({"sub": "user-3"}, "only members of the 'admins' group may delete items"),
        ({"sub": "user-4", "cognito:groups": "[administrators]"}, "only members of the 'admins' group"),
        ({"cognito:groups": "[admins]"}, "needs a signed-in user"),
        (None, "needs a signed-in user"),
    ],
)
def test_anyone_else_gets_403_and_the_item_stays(admin_api, claims, message):
    item = create(admin_api)
    before = raw_table()
    reply = delete_as(admin_api, item["id"], claims)
    assert reply.status == 403
    assert message in reply.body["message"]
    assert raw_table() == before


def test_without_admin_group_configured_delete_needs_no_group(api):
    item = create(api)
    assert delete_as(api, item["id"], {"sub": "user-5", "cognito:groups": "[readers]"}).status == 204


def test_non_admin_callers_may_still_read_and_write(admin_api):
    event = as_caller(
        api_event("POST", "/items", body=json.dumps({"name": "w"})), {"sub": "u", "cognito:groups": "[readers]"}
    )
    assert invoke(admin_api, event).status == 201


def test_the_callers_subject_is_logged_never_the_token(admin_api):
    token = "eyJraWQiOiJ0ZXN0In0.secret-payload.signature"
    event = as_caller(api_event("GET", "/items/absent"), {"sub": "subject-42", "cognito:groups": "[readers]"})
    event["headers"]["Authorization"] = token
    invoke(admin_api, event)
    lines = [json.loads(line) for line in admin_api.logs.getvalue().splitlines() if line.strip()]
    assert lines and all(line.get("caller") == "subject-42" for line in lines)
    assert token not in admin_api.logs.getvalue()
    later = invoke(admin_api, api_event("GET", "/items/absent"))  # the next caller does not inherit it
    assert later.status == 404
    last = json.loads(admin_api.logs.getvalue().splitlines()[-1])
    assert "caller" not in last


# --- CORS (CORS_ALLOW_ORIGINS, set by ApiLambdaTable(cors_allow_origins=...)) ---------------------

APP_ORIGIN, OTHER_APP_ORIGIN, FOREIGN_ORIGIN = (
    "https://app.example.com",
    "https://admin.example.com",
    "https://evil.example",
)


@pytest.fixture
def cors_api(aws, monkeypatch) -> Api:
    create_table(PK)
    monkeypatch.setenv("PARTITION_KEY", PK)
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", f"{APP_ORIGIN},{OTHER_APP_ORIGIN}")
    return load_api(monkeypatch)


def call_from(api: Api, origin: str | None, method: str, path: str, body: Any = None) -> Reply:
    event = api_event(method, path, body=json.dumps(body) if body is not None else None)
    if origin is not None:
        event["headers"]["Origin"] = origin
        event["multiValueHeaders"]["Origin"] = [origin]
    return invoke(api, event)


@pytest.mark.parametrize("origin", [APP_ORIGIN, OTHER_APP_ORIGIN])
def test_an_allowed_origin_is_named_on_success_and_on_errors(cors_api, origin):
    created = call_from(cors_api, origin, "POST", "/items", {"name": "widget"})
    absent = call_from(cors_api, origin, "GET", "/items/absent")
    refused = call_from(cors_api, origin, "POST", "/items", {"name": ""})
    assert (created.status, absent.status, refused.status) == (201, 404, 400)
    for reply in (created, absent, refused):
        assert reply.headers["Access-Control-Allow-Origin"] == origin
        assert reply.headers["Vary"] == "Origin"


def test_a_foreign_origin_gets_no_allow_origin_header_but_is_still_served(cors_api):
    reply = call_from(cors_api, FOREIGN_ORIGIN, "POST", "/items", {"name": "widget"})
    assert reply.status == 201  # CORS is the browser's check; the write itself is authorized by the API
    assert "Access-Control-Allow-Origin" not in reply.headers
    assert reply.headers["Vary"] == "Origin"


def test_a_request_without_origin_gets_no_cors_headers(cors_api):
    reply = call_from(cors_api, None, "GET", "/items")
    assert reply.status == 200
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_without_cors_configured_no_origin_is_named(api):
    reply = call_from(api, APP_ORIGIN, "GET", "/items")
    assert reply.status == 200
    assert "Access-Control-Allow-Origin" not in reply.headers
    assert "Vary" not in reply.headers
