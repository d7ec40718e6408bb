"""Drive a local run's event source mappings: SQS queues, DynamoDB streams and Kinesis streams -> functions.

Each enabled :class:`EventSource` gets a :class:`Poller`, a thread doing what Lambda's event source
mapping does on AWS: read a batch, invoke the function with the event Lambda would build, and act
on the result the way Lambda does (delete, retry, bisect, report to an on-failure destination).

SQS: successful messages are deleted; failed ones stay in the queue and come back after its
visibility timeout - or, with ``retry_delay_seconds``, after that many seconds, since the demo
queues' timeouts (6x the function's) make local retries slow. The queue's redrive policy then
moves a message that keeps failing to its DLQ, on moto as on AWS.

Streams - DynamoDB streams here (moto's server serves ``dynamodbstreams``), Kinesis in
``pollers_kinesis`` - share their shard, retry, bisect, destination and tumbling-window handling
(``pollers_streams``); the base thread and partial batch responses are in ``pollers_base``.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

from .endpoint import local_client
from .model import EventSource, Invocation, LocalEnvironment
from .pollers_base import POLL_SECONDS, Log, Poller, base64_text, chunks, reported_failures, seconds_left
from .pollers_kinesis import KinesisPoller
from .pollers_streams import UNLIMITED_RETRIES_CAP, StreamPoller
from .workers import FunctionPool

__all__ = [
    "UNLIMITED_RETRIES_CAP",
    "DynamoDBStreamPoller",
    "KinesisPoller",
    "Poller",
    "SqsPoller",
    "reported_failures",
    "sqs_record",
    "start_pollers",
    "stream_record",
]

_SQS_BATCH_LIMIT = 10  # entries per ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch


def start_pollers(
    environment: LocalEnvironment,
    pool: FunctionPool,
    log: Log = print,
    retry_delay_seconds: float | None = 1.0,
    window_idle_seconds: float | None = None,
) -> list[Poller]:
    """Start a poller for every enabled event source of the environment; returns them, running.

    All pollers are made before any starts, so a source that cannot be polled raises with nothing left running.
    ``window_idle_seconds``: close a tumbling window early once it has had no record for that long
    (a local shortcut; ``None`` keeps AWS's timing).
    """
    pollers: list[Poller] = []
    for stack in environment.stacks:
        for source in stack.event_sources:
            if not source.enabled:
                log(f"[{source.stack}/{source.logical_id}] event source mapping is disabled; not polling it")
                continue
            poller_class = _POLLERS.get(source.kind)
            if poller_class is None:
                log(f"[{source.stack}/{source.logical_id}] {source.kind} event sources are not run locally")
                continue
            pollers.append(
                poller_class(
                    source,
                    pool,
                    environment.endpoint,
                    environment.region,
                    log,
                    retry_delay_seconds,
                    window_idle_seconds,
                )
            )
    for poller in pollers:
        poller.start()
    return pollers


# -- SQS ---------------------------------------------------------------------------------------------


def lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS's MessageAttributes in the shape of Lambda's SQS event (binary values as base64 text)."""
    shaped = {}
    for name, value in attributes.items():
        entry: dict[str, Any] = {}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = base64_text(value["BinaryValue"])
        entry["stringListValues"] = list(value.get("StringListValues", []))
        entry["binaryListValues"] = [base64_text(item) for item in value.get("BinaryListValues", [])]
        entry["dataType"] = value["DataType"]
        shaped[name] = entry
    return shaped


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of Lambda's SQS event, from a ReceiveMessage result (all attributes requested)."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": lambda_message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": queue_arn.split(":")[3]})
    return record


class SqsPoller(Poller):
    """Receives batches from a queue, invokes the function, deletes what succeeded."""

    kind = "SQS"

    def __init__(self, source: EventSource, *args: Any, **kwargs: Any) -> None:
        super().__init__(source, *args, **kwargs)
        self._sqs = local_client("sqs", self.endpoint, self.region)
        self._queue_url = source.queue_url

    @property
    def queue_url(self) -> str:
        """The source's queue URL, looked up from its ARN when the provisioner did not record one."""
        if self._queue_url is None:
            _, _, _, _, account, name = self.source.source_arn.split(":", 5)
            self._queue_url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        return self._queue_url

    def poll_once(self) -> None:
        messages = self._receive_batch()
        if not messages:
            return
        if self._stopping.is_set():  # received while stopping: hand them back untouched
            self._make_visible(messages, 0)
            return
        records = [sqs_record(message, self.source.source_arn) for message in messages]
        invocation = self.invoke({"Records": records})
        failed = self._failed(records, invocation)
        self._settle(messages, failed)

    def _receive_batch(self) -> list[dict[str, Any]]:
        """Up to ``batch_size`` messages, gathered for at most the batching window after the first."""
        batch: list[dict[str, Any]] = []
        window_ends: float | None = None
        while len(batch) < self.source.batch_size and not self._stopping.is_set():
            wait = POLL_SECONDS if window_ends is None else min(POLL_SECONDS, math.ceil(seconds_left(window_ends)))
            response = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_SQS_BATCH_LIMIT, self.source.batch_size - len(batch)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch.extend(response.get("Messages", []))
            if not batch:
                break  # nothing yet: let the loop in _run check for stop() and poll again
            if window_ends is None:
                window_ends = time.monotonic() + self.source.batching_window_seconds
            if seconds_left(window_ends) <= 0:
                break
        return batch

    def _failed(self, records: list[dict[str, Any]], invocation: Invocation) -> set[str]:
        """Ids of the messages that must stay in the queue after this invocation."""
        identifiers = [record["messageId"] for record in records]
        if not invocation.ok:
            return set(identifiers)
        if not self.source.report_batch_item_failures:
            return set()
        try:
            failed = reported_failures(invocation.payload, identifiers)
        except ValueError as error:
            self.log(f"invalid partial batch response, the whole batch failed: {error}")
            return set(identifiers)
        # As on Lambda, a FIFO queue's order is the function's to keep: it reports the failed record and
        # every later one of its group (Powertools' SqsFifoPartialProcessor does); the rest is deleted.
        return failed

    def _settle(self, messages: list[dict[str, Any]], failed: set[str]) -> None:
        done = [message for message in messages if message["MessageId"] not in failed]
        kept = [message for message in messages if message["MessageId"] in failed]
        self._delete(done)
        summary = f"SQS batch of {len(messages)}: {len(done)} deleted"
        if kept:
            if self.retry_delay_seconds is None:
                summary += f", {len(kept)} back in the queue after its visibility timeout"
            else:
                delay = math.ceil(self.retry_delay_seconds)  # SQS takes whole seconds
                self._make_visible(kept, delay)
                summary += f", {len(kept)} back in the queue in {delay} s"
        self.log(summary)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for chunk in chunks(messages, _SQS_BATCH_LIMIT):
            response = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):  # e.g. its visibility timeout ran out meanwhile
                self.log(f"could not delete message {chunk[int(failure['Id'])]['MessageId']}: {failure.get('Message')}")

    def _make_visible(self, messages: list[dict[str, Any]], seconds: int) -> None:
        for chunk in chunks(messages, _SQS_BATCH_LIMIT):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                    for index, m in enumerate(chunk)
                ],
            )


# -- DynamoDB streams --------------------------------------------------------------------------------


def _wire_value(value: dict[str, Any]) -> dict[str, Any]:
    """An attribute value as DynamoDB JSON on the wire: boto3 decoded binary values to bytes."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64_text(inner)}
    if kind == "BS":
        return {"BS": [base64_text(item) for item in inner]}
    if kind == "M":
        return {"M": {name: _wire_value(item) for name, item in inner.items()}}
    if kind == "L":
        return {"L": [_wire_value(item) for item in inner]}
    return {kind: inner}


def stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """One record of Lambda's DynamoDB event, from a GetRecords result parsed by boto3.

    Lambda delivers ``ApproximateCreationDateTime`` as epoch seconds and binary values as base64
    text; boto3 parsed them into a datetime and bytes, so they are turned back.
    """
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in change:
            change[image] = {name: _wire_value(value) for name, value in change[image].items()}
    shaped = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", stream_arn.split(":")[3]),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # deletions by TTL
        shaped["userIdentity"] = record["userIdentity"]
    return shaped


class DynamoDBStreamPoller(StreamPoller):
    """Reads a table's stream shard by shard and delivers each batch until it succeeds or is given up."""

    kind = "DynamoDB stream"
    batch_info_key = "DDBStreamBatchInfo"

    def __init__(self, source: EventSource, *args: Any, **kwargs: Any) -> None:
        super().__init__(source, *args, **kwargs)
        self._streams = local_client("dynamodbstreams", self.endpoint, self.region)

    def shard_ids(self) -> list[str]:
        shard_ids: list[str] = []
        arguments: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._streams.describe_stream(**arguments)["StreamDescription"]
            shard_ids.extend(shard["ShardId"] for shard in description["Shards"])
            if not description.get("LastEvaluatedShardId"):
                return shard_ids
            arguments["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]

    def shard_iterator(self, shard_id: str, iterator_type: str, after: str | None) -> str | None:
        position: dict[str, Any] = {"ShardIteratorType": iterator_type}
        if after is not None:
            position["SequenceNumber"] = after
        response = self._streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **position)
        iterator: str | None = response.get("ShardIterator")
        return iterator

    def get_records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        response = self._streams.get_records(ShardIterator=iterator, Limit=limit)
        records = [stream_record(record, self.stream_arn) for record in response.get("Records", [])]
        return records, response.get("NextShardIterator")

    def sequence_number(self, record: dict[str, Any]) -> str:
        sequence_number: str = record["dynamodb"]["SequenceNumber"]
        return sequence_number

    def arrival_seconds(self, record: dict[str, Any]) -> float:
        return float(record["dynamodb"].get("ApproximateCreationDateTime", 0))


_POLLERS: dict[str, type[Poller]] = {"sqs": SqsPoller, "dynamodb": DynamoDBStreamPoller, "kinesis": KinesisPoller}
