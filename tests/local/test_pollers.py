"""Pollers: SQS queues and DynamoDB streams drive functions as Lambda's event source mappings do.

Each test runs real pollers against moto's server with functions in a real FunctionPool: the
bundled ``event_recorder`` and ``stream_publisher`` handlers, and small handlers written to
``tmp_path`` that append every event they get to a JSON-lines file (``OUT_FILE``).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_local import create_id_table
from polling import eventually

from patterns.local.model import ACCOUNT, REGION, EventSource, LocalEnvironment, LocalFunction, LocalStack
from patterns.local.pollers import (
    UNLIMITED_RETRIES_CAP,
    reported_failures,
    sqs_record,
    start_pollers,
    stream_record,
)
from patterns.local.workers import FunctionPool

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"

# Appends each event to OUT_FILE; fails records whose body (SQS) or new image (streams) says "poison".
RECORDING_HANDLER = """
import json, os

def records(event):
    with open(os.environ["OUT_FILE"], "a") as out:
        out.write(json.dumps(event) + "\\n")
    return event["Records"]

def is_poison(record):
    if "body" in record:
        return "poison" in record["body"]
    return "poison" in record["dynamodb"].get("NewImage", {})

def handler(event, context):
    mode = os.environ["MODE"]
    batch = records(event)
    poisoned = [record for record in batch if is_poison(record)]
    if mode == "raise" and poisoned:
        raise ValueError("poison in the batch")
    if mode == "report":
        return {"batchItemFailures": [{"itemIdentifier": item_id(record)} for record in poisoned]}
    if mode == "report-first-receive":
        return {"batchItemFailures": [{"itemIdentifier": item_id(record)} for record in poisoned
                                      if record["attributes"]["ApproximateReceiveCount"] == "1"]}
    return None

def item_id(record):
    return record.get("messageId") or record["dynamodb"]["SequenceNumber"]
"""


def local_function(name: str, code_dir: Path, environment: dict[str, str], timeout: int = 10) -> LocalFunction:
    return LocalFunction(
        stack="Demo",
        logical_id=name,
        name=f"Demo-{name}",
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Demo-{name}",
        code_dir=code_dir,
        handler="app.handler",
        runtime="python3.12",
        timeout_seconds=timeout,
        memory_mb=256,
        environment=environment,
    )


def environment_with(endpoint: str, *sources: EventSource) -> LocalEnvironment:
    stack = LocalStack(
        name="Demo",
        template={},
        refs={},
        attributes={},
        functions={source.function.logical_id: source.function for source in sources},
        event_sources=list(sources),
        user_pools={},
    )
    return LocalEnvironment(endpoint=endpoint, region=REGION, stacks=[stack])


class Recorder:
    """A RECORDING_HANDLER function and the events it received."""

    def __init__(self, tmp_path: Path, mode: str) -> None:
        code_dir = tmp_path / f"recorder-{mode}"
        code_dir.mkdir()
        (code_dir / "app.py").write_text(textwrap.dedent(RECORDING_HANDLER))
        self.out_file = tmp_path / f"events-{mode}.jsonl"
        self.function = local_function("Recorder", code_dir, {"OUT_FILE": str(self.out_file), "MODE": mode})

    def events(self) -> list[dict]:
        if not self.out_file.exists():
            return []
        return [json.loads(line) for line in self.out_file.read_text().splitlines()]


@pytest.fixture
def logs() -> list[str]:
    return []


@pytest.fixture
def pool(aws: str, logs: list[str]) -> Iterator[FunctionPool]:
    with FunctionPool(aws, log=logs.append) as pool:
        yield pool


@pytest.fixture
def run_pollers(pool: FunctionPool, logs: list[str]) -> Iterator[Callable[..., list]]:
    """Start pollers for some event sources; they are stopped (quickly) at the end of the test."""
    started: list = []

    def run(*sources: EventSource, retry_delay_seconds: float | None = 0) -> list:
        pollers = start_pollers(
            environment_with(pool.endpoint, *sources), pool, log=logs.append, retry_delay_seconds=retry_delay_seconds
        )
        started.extend(pollers)
        return pollers

    yield run
    for poller in started:
        poller.stop()
        assert not poller.running, "stop() must return promptly"


# -- SQS ---------------------------------------------------------------------------------------------


def make_queue(
    name: str, visibility_timeout: int = 60, max_receive_count: int | None = None, fifo: bool = False
) -> tuple[str, str, str | None]:
    """A queue (and its DLQ when ``max_receive_count`` is set): (url, arn, dlq url)."""
    sqs = boto3.client("sqs")
    attributes = {"VisibilityTimeout": str(visibility_timeout)}
    dlq_url = None
    suffix = ".fifo" if fifo else ""
    if fifo:
        attributes["FifoQueue"] = "true"
    if max_receive_count is not None:
        dlq_attributes = {"FifoQueue": "true"} if fifo else {}
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=dlq_attributes)["QueueUrl"]
        redrive = {"deadLetterTargetArn": queue_arn(dlq_url), "maxReceiveCount": max_receive_count}
        attributes["RedrivePolicy"] = json.dumps(redrive)
    url = sqs.create_queue(QueueName=f"{name}{suffix}", Attributes=attributes)["QueueUrl"]
    return url, queue_arn(url), dlq_url


def queue_arn(url: str) -> str:
    return boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def message_count(url: str) -> int:
    """Messages in the queue, visible or in flight."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def sqs_source(function: LocalFunction, arn: str, **options: Any) -> EventSource:
    return EventSource(
        stack="Demo",
        logical_id="QueueSource",
        function=function,
        kind="sqs",
        source_arn=arn,
        batch_size=options.pop("batch_size", 10),
        **options,
    )


def test_a_poison_message_fails_alone_and_reaches_the_dlq(aws, run_pollers):
    """The bundled recorder reports the poison message; the rest are deleted, the poison is redriven."""
    dynamodb = boto3.client("dynamodb")
    create_id_table(dynamodb, "records")
    url, arn, dlq_url = make_queue("inbox", visibility_timeout=60, max_receive_count=2)
    sqs = boto3.client("sqs")
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": f"evt-{n}"}))
    sqs.send_message(QueueUrl=url, MessageBody="not json at all")
    recorder = local_function(
        "EventRecorder", LAMBDA_SRC / "event_recorder", {"TABLE_NAME": "records", "POWERTOOLS_SERVICE_NAME": "recorder"}
    )

    run_pollers(sqs_source(recorder, arn, queue_url=url, report_batch_item_failures=True))

    dead = eventually(lambda: sqs.receive_message(QueueUrl=dlq_url).get("Messages"))
    assert [message["Body"] for message in dead] == ["not json at all"]
    items = dynamodb.scan(TableName="records")["Items"]
    assert sorted(item["id"]["S"] for item in items) == ["evt-0", "evt-1", "evt-2"]
    assert message_count(url) == 0  # the good ones were deleted, the poison one moved


def test_a_function_error_deletes_nothing(aws, tmp_path, run_pollers, logs):
    """Without ReportBatchItemFailures, an error returns the whole batch; attributes arrive shaped as on Lambda."""
    url, arn, _ = make_queue("orders")
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=url,
        MessageBody="poison order",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "order"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    sqs.send_message(QueueUrl=url, MessageBody="good order")
    recorder = Recorder(tmp_path, "raise")

    run_pollers(sqs_source(recorder.function, arn, queue_url=url))

    # The same two messages come back (the retry delay, not the 60 s visibility timeout, applies).
    events = eventually(lambda: len(recorder.events()) >= 2 and recorder.events())
    first, second = events[0]["Records"], events[1]["Records"]
    assert (
        {record["body"] for record in first} == {record["body"] for record in second} == {"poison order", "good order"}
    )
    assert {record["attributes"]["ApproximateReceiveCount"] for record in second} == {"2"}
    assert message_count(url) == 2

    poison = next(record for record in first if record["body"] == "poison order")
    assert poison["eventSource"] == "aws:sqs"
    assert poison["eventSourceARN"] == arn
    assert poison["awsRegion"] == REGION
    system_attributes = {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"}
    assert system_attributes <= set(poison["attributes"])
    assert poison["messageAttributes"] == {
        "kind": {"stringValue": "order", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    assert len(poison["md5OfBody"]) == 32
    assert any("ValueError: poison in the batch" in line for line in logs)


def test_a_fifo_poller_deletes_what_the_function_does_not_report_as_lambda_does(aws, tmp_path, run_pollers):
    # Lambda keeps no group order for the function: a consumer that reports only the failed
    # message sees the later message of its group deleted, so the local run must not hide that.
    url, arn, _ = make_queue("payments", fifo=True)
    sqs = boto3.client("sqs")
    for body, group in [("a1", "a"), ("a2 poison", "a"), ("a3", "a"), ("b1", "b")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body[:2])
    recorder = Recorder(tmp_path, "report-first-receive")

    # No queue_url: the poller finds the queue from its ARN.
    run_pollers(sqs_source(recorder.function, arn, report_batch_item_failures=True))

    eventually(lambda: message_count(url) == 0)
    batches = [[record["body"] for record in event["Records"]] for event in recorder.events()]
    assert batches == [["a1", "a2 poison", "a3", "b1"], ["a2 poison"]]  # a3 did not wait for a2
    first_record = recorder.events()[0]["Records"][0]
    assert first_record["attributes"]["MessageGroupId"] == "a"
    assert first_record["attributes"]["MessageDeduplicationId"] == "a1"
    assert "SequenceNumber" in first_record["attributes"]


def test_received_messages_become_lambda_records(aws):
    url, arn, _ = make_queue("shapes")
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=url, MessageBody="hello", MessageAttributes={"n": {"DataType": "Number", "StringValue": "7"}}
    )
    [message] = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])[
        "Messages"
    ]
    record = sqs_record(message, arn)
    assert list(record) == [
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ]
    assert record["messageAttributes"]["n"] == {
        "stringValue": "7",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Number",
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
    ],
)
def test_partial_batch_responses(payload, expected):
    assert reported_failures(payload, ["m1", "m2"]) == expected


@pytest.mark.parametrize(
    "payload",
    [
        "ok",
        {"batchItemFailures": "m1"},
        {"batchItemFailures": [{"itemIdentifier": "m3"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "m1"}]},
    ],
)
def test_malformed_partial_batch_responses_fail_the_whole_batch(payload):
    with pytest.raises(ValueError):
        reported_failures(payload, ["m1", "m2"])


# -- DynamoDB streams --------------------------------------------------------------------------------


def make_table(name: str) -> str:
    """A table with a NEW_AND_OLD_IMAGES stream; returns the stream ARN."""
    table = boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return table["TableDescription"]["LatestStreamArn"]


def stream_source(function: LocalFunction, stream_arn: str, **options: Any) -> EventSource:
    return EventSource(
        stack="Demo",
        logical_id="StreamSource",
        function=function,
        kind="dynamodb",
        source_arn=stream_arn,
        stream_arn=stream_arn,
        batch_size=options.pop("batch_size", 10),
        starting_position=options.pop("starting_position", "TRIM_HORIZON"),
        **options,
    )


def subscribed_queue(topic_arn: str, name: str) -> str:
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(url), Attributes={"RawMessageDelivery": "true"}
    )
    return url


def drain(url: str, expected: int) -> list[dict]:
    """Receive until ``expected`` messages arrived; returns their JSON bodies."""
    sqs = boto3.client("sqs")
    bodies: list[dict] = []

    def received() -> bool:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(bodies) >= expected

    eventually(received)
    return bodies


def test_stream_changes_are_published_through_the_bundled_bridge(aws, run_pollers):
    stream_arn = make_table("products")
    topic_arn = boto3.client("sns").create_topic(Name="product-events")["TopicArn"]
    audit_url = subscribed_queue(topic_arn, "audit")
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName="products", Item={"pk": {"S": "p1"}, "price": {"N": "10"}, "blob": {"B": b"\x00\xff"}})
    dynamodb.put_item(TableName="products", Item={"pk": {"S": "p1"}, "price": {"N": "12"}})
    dynamodb.delete_item(TableName="products", Key={"pk": {"S": "p1"}})
    bridge = local_function(
        "Bridge", LAMBDA_SRC / "stream_publisher", {"TOPIC_ARN": topic_arn, "POWERTOOLS_SERVICE_NAME": "bridge"}
    )

    run_pollers(
        stream_source(
            bridge, stream_arn, report_batch_item_failures=True, bisect_on_error=True, maximum_retry_attempts=2
        )
    )

    events = drain(audit_url, 3)
    assert [event["event_type"] for event in events] == ["item.created", "item.updated", "item.deleted"]
    created, updated, deleted = events
    assert created["keys"] == {"pk": "p1"}
    assert created["new"] == {"pk": "p1", "price": 10, "blob": "AP8="}  # binary arrived as base64 text
    assert updated["old"]["price"] == 10 and updated["new"]["price"] == 12
    assert deleted["new"] is None and deleted["old"] == {"pk": "p1", "price": 12}
    assert len({event["event_id"] for event in events}) == 3


def test_bisecting_isolates_a_poison_record_and_reports_it_to_the_on_failure_topic(aws, tmp_path, run_pollers):
    stream_arn = make_table("orders")
    topic_arn = boto3.client("sns").create_topic(Name="failed-records")["TopicArn"]
    failures_url = subscribed_queue(topic_arn, "failed-records-inbox")
    dynamodb = boto3.client("dynamodb")
    for key in ("o1", "o2", "o3"):
        item = {"pk": {"S": key}, **({"poison": {"BOOL": True}} if key == "o2" else {})}
        dynamodb.put_item(TableName="orders", Item=item)
    recorder = Recorder(tmp_path, "raise")

    run_pollers(
        stream_source(
            recorder.function, stream_arn, bisect_on_error=True, maximum_retry_attempts=1, on_failure_arn=topic_arn
        )
    )

    [failure] = drain(failures_url, 1)
    batches = [[record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"]] for event in recorder.events()]
    # [o1 o2 o3] fails; halves [o1] ok, [o2 o3] fails; halves [o2] fails, retried once, [o3] ok.
    assert batches == [["o1", "o2", "o3"], ["o1"], ["o2", "o3"], ["o2"], ["o2"], ["o3"]]
    poison = recorder.events()[3]["Records"][0]
    sequence_number = poison["dynamodb"]["SequenceNumber"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"] == recorder.function.arn
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert failure["version"] == "1.0"
    info = failure["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequence_number
    assert info["batchSize"] == 1
    assert info["streamArn"] == stream_arn
    assert info["shardId"].startswith("shardId-")
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")


def test_reported_failures_retry_from_the_first_failed_record_then_go_to_the_on_failure_queue(
    aws, tmp_path, run_pollers
):
    stream_arn = make_table("invoices")
    failures_url, failures_arn, _ = make_queue("invoice-failures")
    dynamodb = boto3.client("dynamodb")
    for key in ("i1", "i2", "i3"):
        item = {"pk": {"S": key}, **({"poison": {"BOOL": True}} if key == "i2" else {})}
        dynamodb.put_item(TableName="invoices", Item=item)
    recorder = Recorder(tmp_path, "report")

    run_pollers(
        stream_source(
            recorder.function,
            stream_arn,
            report_batch_item_failures=True,
            maximum_retry_attempts=2,
            on_failure_arn=failures_arn,
        )
    )

    [failure] = drain(failures_url, 1)
    batches = [[record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"]] for event in recorder.events()]
    assert batches == [["i1", "i2", "i3"], ["i2", "i3"], ["i2", "i3"]]
    assert "functionError" not in failure["responseContext"]  # the function succeeded, reporting failures
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 2


def test_stream_records_have_lambdas_shape(aws):
    stream_arn = make_table("shapes")
    boto3.client("dynamodb").put_item(
        TableName="shapes",
        Item={
            "pk": {"S": "k"},
            "bin": {"B": b"\x01"},
            "bins": {"BS": [b"\x02"]},
            "nested": {"M": {"b": {"B": b"\x03"}}},
            "list": {"L": [{"B": b"\x04"}, {"N": "5"}]},
        },
    )
    streams = boto3.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    [raw] = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]

    record = stream_record(raw, stream_arn)

    assert list(record) == [
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    ]
    assert record["eventName"] == "INSERT" and record["eventSource"] == "aws:dynamodb"
    change = record["dynamodb"]
    assert isinstance(change["ApproximateCreationDateTime"], int)
    assert change["Keys"] == {"pk": {"S": "k"}}
    assert change["NewImage"]["bin"] == {"B": "AQ=="}
    assert change["NewImage"]["bins"] == {"BS": ["Ag=="]}
    assert change["NewImage"]["nested"] == {"M": {"b": {"B": "Aw=="}}}
    assert change["NewImage"]["list"] == {"L": [{"B": "BA=="}, {"N": "5"}]}
    assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    json.dumps(record)  # what the worker protocol carries


def test_latest_skips_changes_made_before_the_poller_started(aws, tmp_path, run_pollers, logs):
    stream_arn = make_table("events")
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName="events", Item={"pk": {"S": "before"}})
    recorder = Recorder(tmp_path, "ok")

    run_pollers(stream_source(recorder.function, stream_arn, starting_position="LATEST"))
    eventually(lambda: any("from LATEST" in line for line in logs))  # it has taken its position
    dynamodb.put_item(TableName="events", Item={"pk": {"S": "after"}})

    events = eventually(recorder.events)
    assert [record["dynamodb"]["Keys"]["pk"]["S"] for event in events for record in event["Records"]] == ["after"]
    assert any(f"capped at {UNLIMITED_RETRIES_CAP}" in line for line in logs)
