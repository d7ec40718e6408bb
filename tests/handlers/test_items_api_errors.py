"""The items API handler's rejected requests (4xx, the table unchanged) and its failures (503 on throttling, bare 500s)."""

from __future__ import annotations

import base64
import json
import sys

import boto3
import pytest
from botocore.stub import Stubber
from items_api_harness import PK, TABLE, Api, call, create, raw_table, token_for

# GET requests record no metric; Powertools warns about that on every such invocation.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


# --- rejected requests --------------------------------------------------------------------------

OVERSIZE = json.dumps({"name": "x", "description": "y" * (16 * 1024)})
NESTED = "[" * 5000 + "]" * 5000
# Python's json decoder gives up on such nesting with a RecursionError up to 3.12 ("not valid JSON"); from 3.13
# (and on Lambda's 3.14) it parses it, and the array is refused for not being an object. 400 either way.
NESTED_MESSAGE = "must be a JSON object" if sys.version_info >= (3, 13) else "not valid JSON"

# (case id, method, path, body, query, status, text the message must contain)
REJECTED = [
    ("malformed-json", "POST", "/items", '{"name": ', None, 400, "not valid JSON"),
    ("nan-is-not-json", "POST", "/items", '{"name": "x", "quantity": NaN}', None, 400, "not valid JSON"),
    ("deeply-nested-json", "POST", "/items", NESTED, None, 400, NESTED_MESSAGE),
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
    (
        "token-not-json",
        "GET",
        "/items",
        None,
        {"next_token": base64.urlsafe_b64encode(b"not json").decode()},
        400,
        "'next_token'",
    ),
    ("token-json-list", "GET", "/items", None, {"next_token": token_for([{"S": "a"}])}, 400, "'next_token'"),
    ("token-wrong-key", "GET", "/items", None, {"next_token": token_for({"id": {"S": "a"}})}, 400, "'next_token'"),
    (
        "token-extra-key",
        "GET",
        "/items",
        None,
        {"next_token": token_for({PK: {"S": "a"}, "x": {"S": "b"}})},
        400,
        "'next_token'",
    ),
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


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
)
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
