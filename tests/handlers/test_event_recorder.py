"""The demo recorder against moto's server: SQS batches in, one item per event, failures alone."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from aws_local import create_id_table
from handler_loader import load_handler
from lambda_context import LambdaContext
from sqs_events import receive_sqs_event

TABLE = "records"


@pytest.fixture
def recorder(aws, monkeypatch):
    create_id_table(boto3.client("dynamodb"), TABLE)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "recorder")
    return load_handler("event_recorder")


@pytest.fixture
def queue(aws):
    """A queue with a DLQ after 2 receives, as the SecureQueue redrive policy makes it."""
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="inbox-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="inbox",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    return sqs, url, dlq_url


def receive_batch(sqs, url: str) -> dict:
    """Receive up to 10 messages and shape them like Lambda's SQS event."""
    return receive_sqs_event(sqs, url, "arn:aws:sqs:us-east-1:123456789012:inbox")


def run_event_source(sqs, url: str, recorder, batch: dict) -> dict:
    """What the SQS event source mapping does: invoke, then delete all but the reported failures."""
    response = recorder.handler(batch, LambdaContext())
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    for record in batch["Records"]:
        if record["messageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    return response


def scan_ids() -> list[str]:
    items = boto3.resource("dynamodb").Table(TABLE).scan()["Items"]
    return sorted(item["id"] for item in items)


def test_each_event_becomes_one_item(recorder, queue):
    sqs, url, _ = queue
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": f"evt-{n}", "kind": "demo"}))
    response = run_event_source(sqs, url, recorder, receive_batch(sqs, url))
    assert response == {"batchItemFailures": []}
    assert scan_ids() == ["evt-0", "evt-1", "evt-2"]


def test_a_redelivered_event_has_its_effect_once(recorder, queue):
    sqs, url, _ = queue
    body = json.dumps({"id": "evt-dup"})
    sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody=body)
    run_event_source(sqs, url, recorder, receive_batch(sqs, url))
    assert scan_ids() == ["evt-dup"]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", json.dumps({"id": ""}), json.dumps({"name": "no id"})])
def test_a_malformed_record_fails_alone(recorder, queue, body):
    sqs, url, _ = queue
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "good"}))
    sqs.send_message(QueueUrl=url, MessageBody=body)
    batch = receive_batch(sqs, url)
    bad_id = next(r["messageId"] for r in batch["Records"] if r["body"] == body)
    response = run_event_source(sqs, url, recorder, batch)
    assert response == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    assert scan_ids() == ["good"]


def test_a_poison_message_ends_in_the_dlq_and_nothing_is_lost(recorder, queue):
    sqs, url, dlq_url = queue
    sent = [json.dumps({"id": str(uuid.uuid4())}) for _ in range(4)] + ["poison"]
    for body in sent:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    for _ in range(5):  # keep polling like the event source until the queue is drained
        batch = receive_batch(sqs, url)
        if not batch["Records"]:
            break
        run_event_source(sqs, url, recorder, batch)
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in dead] == ["poison"]
    assert len(scan_ids()) == 4
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_a_duplicate_keeps_the_first_recording_at_one_request_each(recorder, queue):
    sqs, url, _ = queue
    calls: list[str] = []
    recorder.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    body = json.dumps({"id": "evt-dup"})
    sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody=body)  # the same event again, a new message
    batch = receive_batch(sqs, url)
    assert len(batch["Records"]) == 2
    assert run_event_source(sqs, url, recorder, batch) == {"batchItemFailures": []}
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"id": {"S": "evt-dup"}})["Item"]
    assert item["message_id"]["S"] == batch["Records"][0]["messageId"]
    assert calls == ["PutItem", "PutItem"]
