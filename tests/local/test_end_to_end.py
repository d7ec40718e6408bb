"""The items service run locally, used over real HTTP the way a user would use `make local`.

One ``LocalRun`` of the synthesized ItemsServiceDemo for the module (its own moto server, the
API and the sign-in page on free loopback ports). Users sign in with the authorization code +
PKCE flow, call the API with their tokens, and the effects are read back from the local
endpoint: audit rows written by the fan-out subscriber after the table's stream, the bridge and
the topic carried each change, and a poison message moved to its dead-letter queue.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from polling import eventually

from patterns.local.provision import LocalUser
from patterns.local.runner import LocalRun, LocalRunOptions
from patterns.local.signin import SignInError, sign_in

PASSWORD = "Local-Only-Passw0rd"
ADMIN = "ada@example.com"
WRITER = "bob@example.com"  # may write, but is not in the admins group
READ, WRITE = "items/read", "items/write"


@pytest.fixture(scope="module")
def run(demo_app) -> Iterator[LocalRun]:
    lines: list[str] = []
    options = LocalRunOptions(
        assembly_dir=demo_app.outdir,
        stacks=["ItemsServiceDemo"],
        port=0,
        users=[LocalUser(ADMIN, PASSWORD, ("admins",)), LocalUser(WRITER, PASSWORD, ("readers",))],
        retry_delay_seconds=0,
    )
    with LocalRun(options, log=lines.append) as local_run:
        local_run.lines = lines  # type: ignore[attr-defined]
        yield local_run


@pytest.fixture(scope="module")
def api_url(run: LocalRun) -> str:
    (api,) = run.apis
    assert api.url.startswith("http://127.0.0.1:") and api.url.endswith("/prod/")
    return api.url


@pytest.fixture(scope="module")
def token(run: LocalRun) -> Callable[..., str]:
    (served,) = run.sign_ins
    (client_id,) = served.client_ids.values()

    def signed_in(username: str, *scopes: str) -> str:
        return sign_in(served.url, client_id, None, username, PASSWORD, scopes)["access_token"]

    return signed_in


def call(url: str, method: str = "GET", token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw) if raw else None


def client(run: LocalRun, service: str):
    assert run.environment is not None
    return boto3.client(
        service,
        endpoint_url=run.environment.endpoint,
        region_name=run.environment.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def function_env(run: LocalRun, prefix: str, variable: str) -> str:
    assert run.environment is not None
    stack = run.environment.stack("ItemsServiceDemo")
    (function,) = [f for logical_id, f in stack.functions.items() if logical_id.startswith(prefix)]
    return function.environment[variable]


def audit_rows(run: LocalRun, prefix: str) -> list[dict]:
    table = function_env(run, prefix, "TABLE_NAME")
    items = client(run, "dynamodb").scan(TableName=table)["Items"]
    return [json.loads(item["body"]["S"]) for item in items]


def test_a_signed_in_admin_creates_reads_updates_and_deletes_an_item(api_url, token):
    access = token(ADMIN, READ, WRITE)

    status, created = call(f"{api_url}items", "POST", access, {"id": "lamp-1", "name": "lamp", "quantity": 2})
    assert status == 201 and created["id"] == "lamp-1" and created["version"] == 1

    assert call(f"{api_url}items/lamp-1", token=access) == (200, created)
    status, listed = call(f"{api_url}items?limit=10", token=access)
    assert status == 200 and [item["id"] for item in listed["items"]] == ["lamp-1"]

    status, updated = call(f"{api_url}items/lamp-1", "PUT", access, {"name": "desk lamp", "quantity": 3, "version": 1})
    assert status == 200 and updated["name"] == "desk lamp" and updated["version"] == 2
    status, _stale = call(f"{api_url}items/lamp-1", "PUT", access, {"name": "old", "version": 1})
    assert status == 409

    assert call(f"{api_url}items/lamp-1", "DELETE", access)[0] == 204
    assert call(f"{api_url}items/lamp-1", token=access)[0] == 404


def test_every_change_reaches_the_audit_table_and_only_deletions_the_notifier(run, api_url, token):
    access = token(ADMIN, READ, WRITE)
    assert call(f"{api_url}items", "POST", access, {"id": "chair-1", "name": "chair"})[0] == 201
    assert call(f"{api_url}items/chair-1", "PUT", access, {"name": "armchair", "version": 1})[0] == 200
    assert call(f"{api_url}items/chair-1", "DELETE", access)[0] == 204

    def chair_events(prefix: str) -> list[str]:
        return sorted(row["event_type"] for row in audit_rows(run, prefix) if row["keys"].get("id") == "chair-1")

    expected = ["item.created", "item.deleted", "item.updated"]
    assert eventually(lambda: chair_events("ItemEventsAuditConsumer") == expected, timeout=45), chair_events(
        "ItemEventsAuditConsumer"
    )
    assert eventually(lambda: chair_events("ItemEventsNotifierConsumer") == ["item.deleted"], timeout=45)
    # The audit row carries the item as it was written: the update's new image.
    (updated,) = [
        r
        for r in audit_rows(run, "ItemEventsAuditConsumer")
        if r["keys"].get("id") == "chair-1" and r["event_type"] == "item.updated"
    ]
    assert updated["new"]["name"] == "armchair" and updated["old"]["name"] == "chair"


def invocations(run: LocalRun) -> int:
    """How often the items function ran (the background consumers log their own REPORT lines)."""
    return sum("REPORT RequestId" in line and "ItemsFunctionHandler" in line for line in run.lines)


def test_requests_without_a_valid_token_are_refused_before_the_function(run, api_url, token):
    before = invocations(run)
    assert call(f"{api_url}items") == (401, {"message": "Unauthorized"})
    assert call(f"{api_url}items", token="not-a-jwt")[0] == 401
    access = token(ADMIN, READ, WRITE)
    tampered = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    assert call(f"{api_url}items", token=tampered)[0] == 401
    assert invocations(run) == before


def test_a_token_without_the_write_scope_may_read_but_not_write(api_url, token):
    reader = token(ADMIN, READ)
    assert call(f"{api_url}items", token=reader)[0] == 200
    assert call(f"{api_url}items", "POST", reader, {"name": "nope"}) == (401, {"message": "Unauthorized"})


def test_only_admins_may_delete(api_url, token):
    writer = token(WRITER, READ, WRITE)
    assert call(f"{api_url}items", "POST", writer, {"id": "mug-1", "name": "mug"})[0] == 201
    status, body = call(f"{api_url}items/mug-1", "DELETE", writer)
    assert status == 403 and "admins" in body["message"]
    assert call(f"{api_url}items/mug-1", token=writer)[0] == 200


def test_the_request_validator_refuses_bad_bodies_without_invoking(run, api_url, token):
    access = token(ADMIN, READ, WRITE)
    before = invocations(run)
    assert call(f"{api_url}items", "POST", access, {"name": "x", "colour": "red"}) == (
        400,
        {"message": "Invalid request body"},
    )
    assert call(f"{api_url}items", "POST", access, b"{not json")[0] == 400
    assert invocations(run) == before


def test_a_wrong_password_gets_no_token(run):
    (served,) = run.sign_ins
    (client_id,) = served.client_ids.values()
    with pytest.raises(SignInError):
        sign_in(served.url, client_id, None, ADMIN, "Wrong-Passw0rd-123", (READ,))


def test_a_poison_message_ends_in_the_dead_letter_queue_and_nothing_else_is_lost(run):
    sqs = client(run, "sqs")
    inbox = next(url for url in sqs.list_queues()["QueueUrls"] if "AuditInboxQueue" in url)
    dead_letters = next(url for url in sqs.list_queues()["QueueUrls"] if "AuditInboxDeadLetterQueue" in url)
    sqs.send_message(QueueUrl=inbox, MessageBody="this is not an event")
    good = {"event_id": "direct-1", "event_type": "item.created", "keys": {"id": "direct"}, "new": None, "old": None}
    sqs.send_message(QueueUrl=inbox, MessageBody=json.dumps(good))

    def dead() -> list[str]:
        messages = sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [m["Body"] for m in messages.get("Messages", [])]

    assert eventually(dead, timeout=60) == ["this is not an event"]
    assert eventually(
        lambda: any(r.get("event_id") == "direct-1" for r in audit_rows(run, "ItemEventsAuditConsumer")), timeout=45
    )
