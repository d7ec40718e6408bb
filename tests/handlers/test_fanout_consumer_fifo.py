"""The fan-out consumer on a FIFO subscriber queue, against moto's server: order within a group.

AWS rule: with ``ReportBatchItemFailures`` on a FIFO queue, Lambda deletes every record the
function does not report as failed. So once a record of a message group fails, the function must
report every later record of that group in the batch as failed too, or they are applied (and
deleted) ahead of the record they follow. Records of other groups are independent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest
from aws_local import create_id_table
from handler_loader import load_handler
from lambda_context import LambdaContext
from sqs_events import receive_sqs_event

MAX_RECEIVE_COUNT = 5  # the DLQ stays out of these tests: moto's FIFO redelivery order is not SQS's


@dataclass
class FifoFanOut:
    sns: object
    sqs: object
    dynamodb: object
    topic_arn: str
    url: str
    arn: str
    dlq_url: str
    sent: int = 0

    def publish(self, body: str, group: str) -> None:
        self.sent += 1
        self.sns.publish(
            TopicArn=self.topic_arn, Message=body, MessageGroupId=group, MessageDeduplicationId=f"dedup-{self.sent}"
        )


@pytest.fixture
def fifo(aws) -> FifoFanOut:
    sns, sqs, dynamodb = boto3.client("sns"), boto3.client("sqs"), boto3.client("dynamodb")
    topic_arn = sns.create_topic(Name="ledger.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    dlq_url = sqs.create_queue(QueueName="post-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="post.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    for name in ("post-records", "post-idempotency"):
        create_id_table(dynamodb, name)
    return FifoFanOut(sns, sqs, dynamodb, topic_arn, url, arn, dlq_url)


@pytest.fixture
def consumer(fifo, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "post-records")
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "post-idempotency")
    monkeypatch.setenv("IDEMPOTENCY_KEY_FIELD", "event_id")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "fanout-fifo")
    return load_handler("fanout_consumer")


def event(event_id: str) -> str:
    return json.dumps({"event_id": event_id})


def applied(fifo) -> list[str]:
    """Event ids in the destination table, in the order they were applied."""
    items = fifo.dynamodb.scan(TableName="post-records", ConsistentRead=True)["Items"]
    return [json.loads(i["body"]["S"])["event_id"] for i in sorted(items, key=lambda i: i["processed_at"]["S"])]


def invoke(fifo, consumer, batch) -> list[str]:
    """Invoke like the event source mapping: delete what did not fail; return the failed bodies."""
    response = consumer.handler(batch, LambdaContext())
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    for record in batch["Records"]:
        if record["messageId"] not in failed:
            fifo.sqs.delete_message(QueueUrl=fifo.url, ReceiptHandle=record["receiptHandle"])
    return [record["body"] for record in batch["Records"] if record["messageId"] in failed]


def test_a_failure_holds_back_the_rest_of_its_group_and_only_its_group(fifo, consumer):
    for body, group in (
        (event("a1"), "A"),
        (event("b1"), "B"),
        ("not json", "A"),
        (event("b2"), "B"),
        (event("a3"), "A"),
    ):
        fifo.publish(body, group)

    batch = receive_sqs_event(fifo.sqs, fifo.url, fifo.arn)
    assert len(batch["Records"]) == 5
    assert invoke(fifo, consumer, batch) == ["not json", event("a3")]
    assert applied(fifo) == ["a1", "b1", "b2"]  # a3 waits behind the record it follows


def test_an_all_failed_fifo_batch_is_reported_record_by_record(fifo, consumer):
    fifo.publish("not json", "A")
    fifo.publish(event("a2"), "A")
    batch = receive_sqs_event(fifo.sqs, fifo.url, fifo.arn)
    assert invoke(fifo, consumer, batch) == ["not json", event("a2")]


def test_a_standard_queue_batch_does_not_hold_back_a_group(consumer, fifo):
    # The same records from a standard queue: a failure is its own, later records are applied.
    records = [
        {
            "messageId": f"m-{n}",
            "body": body,
            "attributes": {"MessageGroupId": "A"},
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:post",
        }
        for n, body in enumerate((event("a1"), "not json", event("a3")))
    ]
    response = consumer.handler({"Records": records}, LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert sorted(applied(fifo)) == ["a1", "a3"]
