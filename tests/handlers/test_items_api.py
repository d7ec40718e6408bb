"""The items API handler against moto's server: REST proxy events in, JSON responses and table state out."""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Optional

import boto3
import pytest
from botocore.stub import Stubber

from handler_loader import load_handler
from lambda_context import LambdaContext

TABLE = "items"
PK = "pk"  # not the API's "id", so the tests see the mapping between the two
ID_RULE = "1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'"

# GET requests record no metric; Powertools warns about that on every such invocation.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@dataclass
class Api:
    module: ModuleType
    logs: io.StringIO


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    raw_body: Optional[str]


def create_table(partition_key: str) -> None:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": partition_key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": partition_key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def load_api(monkeypatch) -> Api:
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "items-api")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ServerlessPatterns")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    module = load_handler("items_api")
    # Powertools keeps one stream handler per service for the process; read this test's lines from a buffer.
    logs = io.StringIO()
    monkeypatch.setattr(module.logger.registered_handler, "stream", logs)
    return Api(module=module, logs=logs)


@pytest.fixture
def api(aws, monkeypatch) -> Api:
    create_table(PK)
    monkeypatch.setenv("PARTITION_KEY", PK)
    return load_api(monkeypatch)


def api_event(
    method: str,
    path: str,
    body: Optional[str] = None,
    query: Optional[dict[str, str]] = None,
    base64_body: bool = False,
) -> dict:
    """An API Gateway REST API (v1) proxy event, as the `prod` stage sends it."""
    if path == "/items":
        resource, path_parameters = "/items", None
    elif re.fullmatch(r"/items/[^/]+", path):
        resource, path_parameters = "/items/{id}", {"id": path.split("/")[2]}
    else:
        resource, path_parameters = "/{proxy+}", {"proxy": path.lstrip("/")}
    if body is not None and base64_body:
        body = base64.b64encode(body.encode()).decode()
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json", "Content-Type": "application/json", "Host": "api.example.com"},
        "multiValueHeaders": {"Accept": ["application/json"], "Content-Type": ["application/json"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": base64_body,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": "api.example.com",
            "httpMethod": method,
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTimeEpoch": 1700000000000,
            "resourceId": "res123",
            "resourcePath": resource,
            "stage": "prod",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "pytest"},
        },
    }


def invoke(api: Api, event: dict, context: Optional[LambdaContext] = None) -> Reply:
    response = api.module.handler(event, context or LambdaContext(function_name="items-api"))
    headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    raw = response.get("body")
    return Reply(status=response["statusCode"], headers=headers, body=json.loads(raw) if raw else None, raw_body=raw)


def call(api: Api, method: str, path: str, body: Any = None, **kwargs) -> Reply:
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    return invoke(api, api_event(method, path, body=body, **kwargs))


def create(api: Api, **fields) -> dict:
    reply = call(api, "POST", "/items", {"name": "widget", **fields})
    assert reply.status == 201, reply.body
    return reply.body


def raw_table() -> list[dict]:
    """Every item as DynamoDB holds it, read with a client of the test's own."""
    client = boto3.client("dynamodb")
    items, request = [], {"TableName": TABLE}
    while True:
        page = client.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def token_for(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


# --- happy paths --------------------------------------------------------------------------------


def test_create_returns_201_with_the_new_item_and_its_location(api):
    reply = call(api, "POST", "/items", {"name": "widget", "description": "blue", "quantity": 3})
    assert reply.status == 201
    item = reply.body
    assert uuid.UUID(item["id"]).version == 4
    assert {k: item[k] for k in ("name", "description", "quantity", "version")} == {
        "name": "widget",
        "description": "blue",
        "quantity": 3,
        "version": 1,
    }
    assert reply.headers["Location"] == f"/items/{item['id']}"
    assert item["created_at"] == item["updated_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["created_at"])


def test_create_stores_the_item_under_the_configured_partition_key(api):
    create(api, id="abc-1", quantity=0, description="")
    (stored,) = raw_table()
    assert stored[PK] == {"S": "abc-1"}
    assert "id" not in stored
    assert stored["quantity"] == {"N": "0"} and stored["description"] == {"S": ""}
    assert stored["version"] == {"N": "1"}


def test_get_returns_the_stored_item_with_integer_numbers(api):
    created = create(api, id="w1", quantity=7)
    reply = call(api, "GET", "/items/w1")
    assert reply.status == 200
    assert reply.body == created
    assert type(reply.body["quantity"]) is int and '"quantity":7' in reply.raw_body.replace(" ", "")


def test_get_of_an_absent_item_is_404(api):
    reply = call(api, "GET", "/items/nope")
    assert reply.status == 404
    assert reply.body == {"message": "item 'nope' not found"}


def test_list_returns_every_item_and_no_next_token_at_the_end(api):
    ids = {create(api)["id"] for _ in range(3)}
    reply = call(api, "GET", "/items")
    assert reply.status == 200
    assert {item["id"] for item in reply.body["items"]} == ids
    assert reply.body.get("next_token") is None


def test_pagination_walks_every_item_exactly_once(api):
    ids = {create(api, id=f"item-{n:02d}")["id"] for n in range(25)}
    seen, page_sizes, query = [], [], {"limit": "10"}
    while True:
        reply = call(api, "GET", "/items", query=query)
        assert reply.status == 200
        seen.extend(item["id"] for item in reply.body["items"])
        page_sizes.append(len(reply.body["items"]))
        if not reply.body.get("next_token"):
            break
        query = {"limit": "10", "next_token": reply.body["next_token"]}
    assert page_sizes == [10, 10, 5]
    assert sorted(seen) == sorted(ids)


def test_replace_bumps_the_version_keeps_created_at_and_sets_updated_at(api):
    created = create(api, id="r1", quantity=1)
    reply = call(api, "PUT", "/items/r1", {"name": "renamed", "quantity": 5, "version": 1})
    assert reply.status == 200
    assert reply.body["version"] == 2
    assert (reply.body["name"], reply.body["quantity"]) == ("renamed", 5)
    assert reply.body["created_at"] == created["created_at"]
    assert reply.body["updated_at"] >= created["updated_at"]
    assert call(api, "GET", "/items/r1").body == reply.body


def test_replace_drops_optional_fields_the_body_omits(api):
    create(api, id="r2", description="old", quantity=4)
    reply = call(api, "PUT", "/items/r2", {"name": "bare", "version": 1})
    assert reply.status == 200
    assert "description" not in reply.body and "quantity" not in reply.body
    (stored,) = raw_table()
    assert "description" not in stored and "quantity" not in stored


def test_delete_returns_204_with_an_empty_body_and_removes_the_item(api):
    create(api, id="d1")
    reply = call(api, "DELETE", "/items/d1")
    assert (reply.status, reply.raw_body or "") == (204, "")
    assert raw_table() == []


def test_delete_is_idempotent(api):
    create(api, id="d2")
    first = call(api, "DELETE", "/items/d2")
    second = call(api, "DELETE", "/items/d2")
    assert (first.status, second.status) == (204, 204)
    assert raw_table() == []


def test_a_base64_encoded_body_is_accepted(api):
    reply = invoke(api, api_event("POST", "/items", body=json.dumps({"id": "b64", "name": "encoded"}), base64_body=True))
    assert reply.status == 201
    assert reply.body["name"] == "encoded"


def test_partition_key_defaults_to_id(aws, monkeypatch):
    create_table("id")
    monkeypatch.delenv("PARTITION_KEY", raising=False)
    api = load_api(monkeypatch)
    create(api, id="plain")
    assert call(api, "GET", "/items/plain").body["id"] == "plain"
    assert raw_table()[0]["id"] == {"S": "plain"}


# --- conflicts ----------------------------------------------------------------------------------


def test_duplicate_create_is_409_and_keeps_the_original(api):
    create(api, id="dup", name="first")
    before = raw_table()
    reply = call(api, "POST", "/items", {"id": "dup", "name": "second"})
    assert reply.status == 409
    assert reply.body == {"message": "an item with id 'dup' already exists"}
    assert raw_table() == before


def test_replace_with_a_stale_version_is_409_and_changes_nothing(api):
    create(api, id="s1")
    assert call(api, "PUT", "/items/s1", {"name": "v2", "version": 1}).status == 200
    before = raw_table()
    reply = call(api, "PUT", "/items/s1", {"name": "lost update", "version": 1})
    assert reply.status == 409
    assert "stale" in reply.body["message"] and "current version is 2" in reply.body["message"]
    assert raw_table() == before


def test_replace_of_an_absent_item_is_404_and_creates_nothing(api):
    reply = call(api, "PUT", "/items/ghost", {"name": "x", "version": 1})
    assert reply.status == 404
    assert reply.body == {"message": "item 'ghost' not found"}
    assert raw_table() == []


# --- rejected requests --------------------------------------------------------------------------

OVERSIZE = json.dumps({"name": "x", "description": "y" * (16 * 1024)})
NESTED = "[" * 5000 + "]" * 5000

# (case id, method, path, body, query, status, text the message must contain)
REJECTED = [
    ("malformed-json", "POST", "/items", '{"name": ', None, 400, "not valid JSON"),
    ("nan-is-not-json", "POST", "/items", '{"name": "x", "quantity": NaN}', None, 400, "not valid JSON"),
    ("deeply-nested-json", "POST", "/items", NESTED, None, 400, "not valid JSON"),
    ("missing-body", "POST", "/items", None, None, 400, "body is required"),
    ("body-is-an-array", "POST", "/items", "[1, 2]", None, 400, "must be a JSON object"),
    ("body-is-a-string", "POST", "/items", '"widget"', None, 400, "must be a JSON object"),
    ("unknown-field", "POST", "/items", {"name": "x", "colour": "red"}, None, 400, "'colour'"),
    ("version-on-create", "POST", "/items", {"name": "x", "version": 1}, None, 400, "'version'"),
    ("missing-name", "POST", "/items", {"quantity": 1}, None, 400, "'name' is required"),
    ("name-wrong-type", "POST", "/items", {"name": 42}, None, 400, "'name'"),
    ("name-null", "POST", "/items", {"name": None}, None, 400, "'name'"),
    ("name-empty", "POST", "/items", {"name": ""}, None, 400, "'name'"),
    ("name-too-long", "POST", "/items", {"name": "n" * 201}, None, 400, "'name'"),
    ("name-lone-surrogate", "POST", "/items", '{"name": "\\ud800"}', None, 400, "'name'"),
    ("description-too-long", "POST", "/items", {"name": "x", "description": "d" * 2001}, None, 400, "'description'"),
    ("description-wrong-type", "POST", "/items", {"name": "x", "description": ["a"]}, None, 400, "'description'"),
    ("quantity-bool", "POST", "/items", {"name": "x", "quantity": True}, None, 400, "'quantity'"),
    ("quantity-negative", "POST", "/items", {"name": "x", "quantity": -1}, None, 400, "'quantity'"),
    ("quantity-float", "POST", "/items", {"name": "x", "quantity": 1.5}, None, 400, "'quantity'"),
    ("quantity-string", "POST", "/items", {"name": "x", "quantity": "3"}, None, 400, "'quantity'"),
    ("quantity-huge", "POST", "/items", '{"name": "x", "quantity": ' + "9" * 40 + "}", None, 400, "'quantity'"),
    ("id-bad-characters", "POST", "/items", {"id": "a b", "name": "x"}, None, 400, "'id'"),
    ("id-too-long", "POST", "/items", {"id": "a" * 65, "name": "x"}, None, 400, "'id'"),
    ("id-wrong-type", "POST", "/items", {"id": 7, "name": "x"}, None, 400, "'id'"),
    ("oversize-create", "POST", "/items", OVERSIZE, None, 413, "16384 bytes"),
    ("oversize-replace", "PUT", "/items/seed", OVERSIZE, None, 413, "16384 bytes"),
    ("replace-missing-version", "PUT", "/items/seed", {"name": "x"}, None, 400, "'version' is required"),
    ("replace-version-bool", "PUT", "/items/seed", {"name": "x", "version": True}, None, 400, "'version'"),
    ("replace-version-zero", "PUT", "/items/seed", {"name": "x", "version": 0}, None, 400, "'version'"),
    ("replace-unknown-field", "PUT", "/items/seed", {"name": "x", "version": 1, "id": "seed"}, None, 400, "'id'"),
    ("replace-missing-name", "PUT", "/items/seed", {"version": 1}, None, 400, "'name' is required"),
    ("replace-malformed-json", "PUT", "/items/seed", "{oops", None, 400, "not valid JSON"),
    ("get-bad-path-id", "GET", "/items/bad.id", None, None, 400, "path parameter 'id'"),
    ("get-path-id-too-long", "GET", "/items/" + "a" * 65, None, None, 400, "path parameter 'id'"),
    ("get-path-id-unroutable", "GET", "/items/\N{SNOWMAN}\N{COMET}", None, None, 400, "path parameter 'id'"),
    ("put-bad-path-id", "PUT", "/items/bad$id", {"name": "x", "version": 1}, None, 400, "path parameter 'id'"),
    ("delete-bad-path-id", "DELETE", "/items/bad%20id", None, None, 400, "path parameter 'id'"),
    ("limit-zero", "GET", "/items", None, {"limit": "0"}, 400, "'limit'"),
    ("limit-too-big", "GET", "/items", None, {"limit": "101"}, 400, "'limit'"),
    ("limit-negative", "GET", "/items", None, {"limit": "-1"}, 400, "'limit'"),
    ("limit-not-a-number", "GET", "/items", None, {"limit": "ten"}, 400, "'limit'"),
    ("limit-empty", "GET", "/items", None, {"limit": ""}, 400, "'limit'"),
    ("token-garbage", "GET", "/items", None, {"next_token": "!!not-a-token!!"}, 400, "'next_token'"),
    ("token-empty", "GET", "/items", None, {"next_token": ""}, 400, "'next_token'"),
    ("token-bad-base64", "GET", "/items", None, {"next_token": "abcde"}, 400, "'next_token'"),
    ("token-not-json", "GET", "/items", None, {"next_token": base64.urlsafe_b64encode(b"not json").decode()}, 400, "'next_token'"),
    ("token-json-list", "GET", "/items", None, {"next_token": token_for([{"S": "a"}])}, 400, "'next_token'"),
    ("token-wrong-key", "GET", "/items", None, {"next_token": token_for({"id": {"S": "a"}})}, 400, "'next_token'"),
    ("token-extra-key", "GET", "/items", None, {"next_token": token_for({PK: {"S": "a"}, "x": {"S": "b"}})}, 400,
     "'next_token'"),
    ("token-number-key", "GET", "/items", None, {"next_token": token_for({PK: {"N": "1"}})}, 400, "'next_token'"),
    ("token-untyped-key", "GET", "/items", None, {"next_token": token_for({PK: "a"})}, 400, "'next_token'"),
    ("token-empty-id", "GET", "/items", None, {"next_token": token_for({PK: {"S": ""}})}, 400, "'next_token'"),
    ("unknown-route", "GET", "/widgets", None, None, 404, "no such resource"),
    ("unknown-nested-route", "POST", "/items/seed/children", {"name": "x"}, None, 404, "no such resource"),
    ("wrong-method-collection", "DELETE", "/items", None, None, 405, "DELETE"),
    ("wrong-method-item", "POST", "/items/seed", {"name": "x"}, None, 405, "POST"),
]


@pytest.fixture
def seeded(api) -> Api:
    create(api, id="seed", description="original", quantity=1)
    return api


@pytest.mark.parametrize(
    "method, path, body, query, status, text", [case[1:] for case in REJECTED], ids=[case[0] for case in REJECTED]
)
def test_a_rejected_request_gets_a_json_error_naming_the_problem(seeded, method, path, body, query, status, text):
    reply = call(seeded, method, path, body, query=query)
    assert reply.status == status
    assert reply.headers["Content-Type"] == "application/json"
    assert list(reply.body) == ["message"]
    assert text in reply.body["message"]


def test_no_rejected_request_changes_the_table(seeded):
    before = raw_table()
    changed_by = []
    for case_id, method, path, body, query, *_ in REJECTED:
        call(seeded, method, path, body, query=query)
        if raw_table() != before:
            changed_by.append(case_id)
    assert changed_by == []


def test_a_wrong_method_names_the_allowed_ones(api):
    reply = call(api, "PATCH", "/items/seed", {"name": "x"})
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, PUT, DELETE"


def test_a_well_formed_token_for_a_deleted_item_still_pages_on(api):
    for name in ("a", "c"):
        create(api, id=name)
    reply = call(api, "GET", "/items", query={"next_token": token_for({PK: {"S": "b"}})})
    assert reply.status == 200
    assert [item["id"] for item in reply.body["items"]] == ["c"]


# --- failures of DynamoDB and of the code -------------------------------------------------------


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"])
def test_throttling_is_503_with_retry_after(api, code):
    create(api, id="t1")
    # moto never throttles, so only this one GetItem call is stubbed; the stub also bypasses retries.
    with Stubber(api.module.dynamodb) as stubber:
        stubber.add_client_error("get_item", service_error_code=code, http_status_code=400)
        reply = call(api, "GET", "/items/t1")
        stubber.assert_no_pending_responses()
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "1"
    assert list(reply.body) == ["message"]


def test_an_unexpected_dynamodb_error_is_a_bare_500(api):
    boto3.client("dynamodb").delete_table(TableName=TABLE)  # the handler now gets ResourceNotFoundException
    reply = call(api, "GET", "/items/x1")
    assert reply.status == 500
    assert reply.body == {"message": "Internal server error"}


def test_an_unexpected_code_error_is_a_bare_500_and_writes_nothing(api, monkeypatch):
    def broken_clock() -> str:
        raise RuntimeError("clock exploded at /opt/secret/path.py")

    monkeypatch.setattr(api.module, "now_iso", broken_clock)
    reply = call(api, "POST", "/items", {"name": "x"})
    assert (reply.status, reply.body) == (500, {"message": "Internal server error"})
    assert raw_table() == []


def test_the_unexpected_error_is_logged_with_its_exception(api, monkeypatch):
    monkeypatch.setattr(api.module, "now_iso", lambda: 1 / 0)
    call(api, "POST", "/items", {"name": "x"})
    records = [json.loads(line) for line in api.logs.getvalue().splitlines()]
    errors = [r for r in records if r["level"] == "ERROR"]
    assert errors and "ZeroDivisionError" in errors[0]["exception"]


# --- contract with the CDK construct and observability -----------------------------------------


def documented_actions(module: ModuleType) -> set[str]:
    (line,) = [line for line in module.__doc__.splitlines() if line.startswith("DynamoDB actions:")]
    return {action.strip() for action in line.split(":", 1)[1].rstrip(".").split(",")}


def test_the_dynamodb_actions_sent_are_exactly_the_documented_ones(api):
    sent: set[str] = set()
    api.module.dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: sent.add(model.name))
    created = create(api, id="ops")
    create(api)
    call(api, "GET", "/items/ops")
    call(api, "GET", "/items", query={"limit": "1"})
    call(api, "PUT", "/items/ops", {"name": "new", "version": created["version"]})
    call(api, "PUT", "/items/ops", {"name": "stale", "version": created["version"]})
    call(api, "DELETE", "/items/ops")
    assert sent == documented_actions(api.module) == {"PutItem", "GetItem", "Scan", "UpdateItem", "DeleteItem"}


def test_every_log_line_carries_the_lambda_and_api_request_ids(api):
    event = api_event("POST", "/items", body=json.dumps({"name": "logged"}))
    context = LambdaContext(function_name="items-api")
    invoke(api, event, context)
    records = [json.loads(line) for line in api.logs.getvalue().splitlines()]
    assert records
    for record in records:
        assert record["function_request_id"] == context.aws_request_id
        assert record["correlation_id"] == event["requestContext"]["requestId"]
        assert record["service"] == "items-api"


@pytest.mark.parametrize(
    "setup, method, path, body, metric",
    [
        (False, "POST", "/items", {"name": "m"}, "ItemsCreated"),
        (True, "PUT", "/items/m1", {"name": "m", "version": 1}, "ItemsUpdated"),
        (True, "DELETE", "/items/m1", None, "ItemsDeleted"),
    ],
    ids=["create", "replace", "delete"],
)
def test_each_write_publishes_its_metric(api, capsys, setup, method, path, body, metric):
    if setup:
        create(api, id="m1")
    capsys.readouterr()
    call(api, method, path, body)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    published = [
        (directive["Namespace"], blob["service"], metric_def["Name"], blob[metric_def["Name"]])
        for blob in blobs
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric_def in directive["Metrics"]
        if metric_def["Name"] != "ColdStart"
    ]
    assert published == [("ServerlessPatterns", "items-api", metric, [1.0])]


# --- the caller (behind a Cognito user-pool authorizer) ------------------------------------------


@pytest.fixture
def admin_api(aws, monkeypatch) -> Api:
    create_table(PK)
    monkeypatch.setenv("PARTITION_KEY", PK)
    monkeypatch.setenv("ADMIN_GROUP", "admins")
    return load_api(monkeypatch)


def as_caller(event: dict, claims: Optional[dict]) -> dict:
    """What a Cognito user-pool authorizer adds: the access token's claims, as text values."""
    if claims is not None:
        event["requestContext"]["authorizer"] = {"claims": claims}
    return event


def delete_as(api: Api, item_id: str, claims: Optional[dict]) -> Reply:
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
    event = as_caller(api_event("POST", "/items", body=json.dumps({"name": "w"})), {"sub": "u", "cognito:groups": "[readers]"})
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

APP_ORIGIN, OTHER_APP_ORIGIN, FOREIGN_ORIGIN = "https://app.example.com", "https://admin.example.com", "https://evil.example"


@pytest.fixture
def cors_api(aws, monkeypatch) -> Api:
    create_table(PK)
    monkeypatch.setenv("PARTITION_KEY", PK)
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", f"{APP_ORIGIN},{OTHER_APP_ORIGIN}")
    return load_api(monkeypatch)


def call_from(api: Api, origin: Optional[str], method: str, path: str, body: Any = None) -> Reply:
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
