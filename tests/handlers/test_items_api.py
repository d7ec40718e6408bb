"""The items API handler against moto's server: its happy paths, conflicts, AWS calls, logs and metrics.

Rejected requests and failures are in test_items_api_errors.py; callers behind the Cognito authorizer
and CORS in test_items_api_callers.py; the helpers in items_api_harness.py.
"""

from __future__ import annotations

import json
import re
import uuid
from types import ModuleType

import pytest
from items_api_harness import PK, api_event, call, create, create_table, invoke, load_api, raw_table
from lambda_context import LambdaContext

# GET requests record no metric; Powertools warns about that on every such invocation.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


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
    reply = invoke(
        api, api_event("POST", "/items", body=json.dumps({"id": "b64", "name": "encoded"}), base64_body=True)
    )
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
