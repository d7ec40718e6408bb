"""The stream -> SNS bridge on a FIFO topic, configured from TableEventPublisher's template, on moto.

AWS rule: a FIFO topic refuses a publish without ``MessageGroupId``, and without
``MessageDeduplicationId`` unless content-based deduplication is on. The bridge groups by the
item's keys (one item's changes stay in order) and deduplicates by the stream record's eventID.
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk.assertions import Template
from boto3.dynamodb.types import TypeSerializer
from handler_loader import load_handler
from lambda_context import LambdaContext

from patterns import FanoutQueue, SecureTable, TableEventPublisher

_serializer = TypeSerializer()


@pytest.fixture(scope="module")
def bridge_environment() -> dict:
    """The bridge's environment variables as TableEventPublisher synthesizes them for a FIFO topic."""
    stack = Stack(App(), "Fifo")
    events = FanoutQueue(stack, "Events", fifo=True)
    table = SecureTable(stack, "Items", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES)
    TableEventPublisher(stack, "Changes", table=table.table, topic=events.topic)
    functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    [bridge] = [f for logical_id, f in functions.items() if logical_id.startswith("ChangesBridge")]
    return bridge["Properties"]["Environment"]["Variables"]


@pytest.fixture
def fifo_bridge(aws, monkeypatch, bridge_environment):
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name="changes.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url = sqs.create_queue(QueueName="audit.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    for name, value in bridge_environment.items():
        monkeypatch.setenv(name, topic_arn if name == "TOPIC_ARN" else value)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "stream-publisher-fifo")
    return load_handler("stream_publisher"), sqs, url


def change(event_name: str, pk: str, version: int, event_id: str | None = None) -> dict:
    keys = {"pk": _serializer.serialize(pk), "sk": _serializer.serialize(1)}
    image = {**keys, "version": _serializer.serialize(version)}
    images = {"OldImage": image} if event_name == "REMOVE" else {"NewImage": image}
    return {
        "eventID": event_id or uuid.uuid4().hex,
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": keys, **images, "SequenceNumber": str(version), "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def delivered(sqs, url: str) -> list[dict]:
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=300
    ).get("Messages", []):
        messages += batch
    return messages


def test_the_construct_tells_the_bridge_its_topic_is_fifo(bridge_environment):
    assert bridge_environment["TOPIC_FIFO"] == "true"


def test_each_items_changes_share_a_group_and_keep_their_order(fifo_bridge):
    publisher, sqs, url = fifo_bridge
    records = [change("INSERT", "a", 1), change("INSERT", "b", 1), change("MODIFY", "a", 2), change("REMOVE", "a", 3)]

    assert publisher.handler({"Records": records}, LambdaContext()) == {"batchItemFailures": []}

    messages = delivered(sqs, url)
    groups: dict[str, list[tuple[str, int]]] = {}
    for message in messages:
        event = json.loads(message["Body"])
        image = event["new"] or event["old"]
        groups.setdefault(message["Attributes"]["MessageGroupId"], []).append((event["keys"]["pk"], image["version"]))
    assert sorted(groups.values()) == [[("a", 1), ("a", 2), ("a", 3)], [("b", 1)]]
    assert all(len(group_id) <= 128 for group_id in groups)


def test_a_record_published_again_is_delivered_once(fifo_bridge):
    # Lambda retries a batch from its failed record: the records after it are published again.
    publisher, sqs, url = fifo_bridge
    record = change("INSERT", "a", 1, event_id="4b2f7c0e9d3a41e6b8a5c2d7e1f09a36")
    for _ in range(2):
        assert publisher.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}

    [message] = delivered(sqs, url)
    assert message["Attributes"]["MessageDeduplicationId"] == record["eventID"]
    assert json.loads(message["Body"])["event_id"] == record["eventID"]
