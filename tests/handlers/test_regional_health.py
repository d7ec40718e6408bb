"""GET /health of one region against the local server: 200 while the replica is usable, else 503 and a metric."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from aws_local import create_id_table
from handler_loader import load_handler
from lambda_context import LambdaContext

TABLE = "global-items"
EVENT = {"resource": "/health", "path": "/health", "httpMethod": "GET", "headers": {}, "requestContext": {}}


@pytest.fixture
def health(aws, monkeypatch):
    """The handler loaded for table ``global-items`` keyed by the string ``id``."""
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("PARTITION_KEY", "id")
    monkeypatch.delenv("PARTITION_KEY_TYPE", raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "health")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RegionalHealth")
    return lambda: load_handler("regional_health")


def call(module) -> tuple[int, dict]:
    response = module.handler(EVENT, LambdaContext())
    assert response["headers"]["Cache-Control"] == "no-store"
    return response["statusCode"], json.loads(response["body"])


def test_an_active_replica_is_healthy(health, capsys):
    create_id_table(boto3.client("dynamodb"), TABLE)
    status, body = call(health())
    assert (status, body) == (200, {"status": "healthy", "region": "us-east-1"})
    assert "UnhealthyResponses" not in capsys.readouterr().out


def test_a_missing_replica_answers_503_and_counts_one_unhealthy_response(health, capsys):
    status, body = call(health())
    assert status == 503
    assert body == {"status": "unhealthy", "region": "us-east-1", "reason": "ResourceNotFoundException"}
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["UnhealthyResponses"] for m in emitted if "UnhealthyResponses" in m] == [[1.0]]


def test_a_number_keyed_replica_is_read_with_a_number_sentinel(health, monkeypatch):
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("PARTITION_KEY_TYPE", "N")
    assert call(health()) == (200, {"status": "healthy", "region": "us-east-1"})


@pytest.mark.parametrize(
    ("description", "reason"),
    [
        ({"TableStatus": "DELETING"}, "table DELETING"),
        (
            {"SSEDescription": {"Status": "INACCESSIBLE_ENCRYPTION_CREDENTIALS"}},
            "encryption INACCESSIBLE_ENCRYPTION_CREDENTIALS",
        ),
    ],
)
def test_a_replica_being_deleted_or_with_an_unusable_key_is_unhealthy(health, monkeypatch, description, reason):
    # The local server cannot put a table in these states: the real description is amended.
    create_id_table(boto3.client("dynamodb"), TABLE)
    module = health()
    real = module.dynamodb.describe_table
    monkeypatch.setattr(
        module.dynamodb, "describe_table", lambda **kwargs: {"Table": {**real(**kwargs)["Table"], **description}}
    )
    status, body = call(module)
    assert (status, body["reason"]) == (503, reason)


def test_an_unknown_key_type_fails_at_load(health, monkeypatch):
    monkeypatch.setenv("PARTITION_KEY_TYPE", "SS")
    with pytest.raises(RuntimeError, match="PARTITION_KEY_TYPE must be S, N or B"):
        health()


@pytest.fixture
def blackhole() -> Iterator[tuple[str, list[socket.socket]]]:
    """An endpoint on 127.0.0.1 that accepts connections and never answers; yields its URL and the connections."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # the server socket closed: the test is over
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
    for connection in accepted:
        connection.close()


def test_a_replica_that_never_answers_is_unhealthy_within_route_53s_budget(health, monkeypatch, blackhole):
    url, connections = blackhole
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    module = health()
    started = time.monotonic()
    status, body = call(module)
    elapsed = time.monotonic() - started
    assert (status, body["reason"]) == (503, "ReadTimeoutError")
    assert len(connections) == 1  # one attempt: no retry on the same budget
    assert elapsed < 1.3
    assert module.DEADLINE_SECONDS <= 1.2
