"""The Kinesis poller against moto's server: batch size, partial failures, retries, the on-failure
destination, and tumbling windows with their state, as Lambda's mapping drives a function; and the
same windows on a DynamoDB table's stream, whose poller shares that logic."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from polling import eventually

from patterns.local.model import ACCOUNT, REGION, EventSource, LocalEnvironment, LocalFunction, LocalStack
from patterns.local.pollers import start_pollers
from patterns.local.pollers_kinesis import stream_of
from patterns.local.workers import FunctionPool

# Records every event; reports the first record whose data is "poison"; counts the others in the window's state.
HANDLER = """
import base64, json, os

def handler(event, context):
    with open(os.environ["OUT_FILE"], "a") as out:
        out.write(json.dumps(event) + "\\n")
    poison = [r["kinesis"]["sequenceNumber"] for r in event["Records"]
              if "kinesis" in r and base64.b64decode(r["kinesis"]["data"]) == b"poison"]
    response = {"batchItemFailures": [{"itemIdentifier": poison[0]}] if poison else []}
    if "window" in event:
        response["state"] = {"seen": event["state"].get("seen", 0) + len(event["Records"]) - len(poison)}
    return response
"""


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[LocalFunction, Path]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent(HANDLER))
    out = tmp_path / "events.jsonl"
    function = LocalFunction(
        stack="Demo",
        logical_id="Recorder",
        name="Demo-Recorder",
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Demo-Recorder",
        code_dir=code,
        handler="app.handler",
        runtime="python3.12",
        timeout_seconds=10,
        memory_mb=256,
        environment={"OUT_FILE": str(out)},
    )
    return function, out


@pytest.fixture
def stream(aws: str) -> str:
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    return kinesis.describe_stream_summary(StreamName="clicks")["StreamDescriptionSummary"]["StreamARN"]


@pytest.fixture
def run(aws: str) -> Iterator:
    started: list = []
    with FunctionPool(aws, log=lambda line: None) as pool:

        def start(source: EventSource, **options) -> None:
            stack = LocalStack("Demo", {}, {}, {}, {source.function.logical_id: source.function}, [source], {})
            environment = LocalEnvironment(endpoint=aws, region=REGION, stacks=[stack])
            started.extend(start_pollers(environment, pool, log=lambda line: None, **options))

        yield start
        for poller in started:
            poller.stop()


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def put(*payloads: bytes) -> list[str]:
    kinesis = boto3.client("kinesis")
    return [kinesis.put_record(StreamName="clicks", Data=p, PartitionKey="k")["SequenceNumber"] for p in payloads]


def source(function: LocalFunction, stream_arn: str, **overrides) -> EventSource:
    values = {
        "stack": "Demo",
        "logical_id": "Mapping",
        "function": function,
        "kind": "kinesis",
        "source_arn": stream_arn,
        "stream_arn": stream_arn,
        "batch_size": 2,
        "report_batch_item_failures": True,
        "starting_position": "TRIM_HORIZON",
        "bisect_on_error": True,
        "maximum_retry_attempts": 1,
    }
    values.update(overrides)
    return EventSource(**values)


def test_batches_partial_failures_retries_and_the_destination(recorder, stream, run):
    function, out = recorder
    queue_url = boto3.client("sqs").create_queue(QueueName="failed")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:failed"
    first, poison, *rest = put(b"a", b"poison", b"b", b"c")
    run(source(function, stream, on_failure_arn=queue_arn), retry_delay_seconds=0)

    eventually(lambda: rest[-1] in {r["kinesis"]["sequenceNumber"] for e in events(out) for r in e["Records"]})
    batches = [[r["kinesis"]["sequenceNumber"] for r in e["Records"]] for e in events(out)]
    assert all(len(batch) <= 2 for batch in batches)
    # Reported at once, retried once from the poison record, then given up alone; the rest follows.
    assert batches == [[first, poison], [poison], rest]
    (message,) = boto3.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    info = json.loads(message["Body"])["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (poison, poison, 1)
    assert info["streamArn"] == stream


def test_tumbling_window_state_is_carried_and_handed_to_the_final_invocation(recorder, stream, run):
    function, out = recorder
    put(b"a", b"b", b"c")
    run(source(function, stream, tumbling_window_seconds=900), retry_delay_seconds=0, window_idle_seconds=0.3)

    eventually(lambda: any(e.get("isFinalInvokeForWindow") for e in events(out)))
    received = events(out)
    states = [e["state"] for e in received]
    assert states[0] == {} and states[-1] == {"seen": 3}  # each invocation got what the previous returned
    final = received[-1]
    assert final["Records"] == [] and final["isWindowTerminatedEarly"] is True  # closed idle, not at its end
    assert final["shardId"] == "shardId-000000000000" and final["eventSourceARN"] == stream
    assert len({json.dumps(e["window"]) for e in received}) == 1


def test_a_table_stream_gets_the_same_tumbling_windows(recorder, aws, run):
    function, out = recorder
    dynamodb = boto3.client("dynamodb")
    table = dynamodb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]
    for key in ("a", "b"):
        dynamodb.put_item(TableName="orders", Item={"id": {"S": key}})
    arn = table["LatestStreamArn"]
    mapping = source(function, arn, kind="dynamodb", tumbling_window_seconds=900)
    run(mapping, retry_delay_seconds=0, window_idle_seconds=0.3)

    eventually(lambda: any(e.get("isFinalInvokeForWindow") for e in events(out)))
    final = events(out)[-1]
    assert final["state"] == {"seen": 2} and final["Records"] == [] and final["eventSourceARN"] == arn


def test_a_consumer_arn_is_read_from_its_stream():
    consumer = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks/consumer/efo:1700000000"
    assert stream_of(consumer) == "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
