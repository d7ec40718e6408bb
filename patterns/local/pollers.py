"""Drive a local run's event source mappings: SQS queues and DynamoDB streams -> functions.

Each enabled :class:`EventSource` gets a :class:`Poller`, a thread doing what Lambda's event source
mapping does on AWS: read a batch, invoke the function with the event Lambda would build, and act
on the result the way Lambda does (delete, retry, bisect, report to an on-failure destination).

SQS: successful messages are deleted; failed ones stay in the queue and come back after its
visibility timeout - or, with ``retry_delay_seconds``, after that many seconds, since the demo
queues' timeouts (6x the function's) make local retries slow. The queue's redrive policy then
moves a message that keeps failing to its DLQ, on moto as on AWS.

DynamoDB streams (moto's server serves ``dynamodbstreams``): records are read per shard from the
mapping's starting position. A failing batch is retried (from the first reported failure with
``ReportBatchItemFailures``, in halves with bisect-on-error) up to ``maximum_retry_attempts``
times, then described to the on-failure destination and skipped. Unlimited retries (the AWS
default, until records expire) are capped at :data:`UNLIMITED_RETRIES_CAP` locally. Only the
shards present when the poller starts are read.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional


from .endpoint import local_client
from .model import EventSource, Invocation, LocalEnvironment
from .workers import FunctionPool

Log = Callable[[str], None]

#: Longest a receive or a pause may block, so that ``stop()`` returns within about two seconds.
POLL_SECONDS = 1
#: How often an idle stream is read again. Lambda reads a shard 4 times a second; half that is
#: prompt enough locally, and moto's server keeps every shard iterator it hands out.
STREAM_IDLE_SECONDS = 0.5
#: Retries of a failing stream batch when the mapping allows unlimited ones.
UNLIMITED_RETRIES_CAP = 10
#: Pause between stream retries when the run keeps AWS timings (``retry_delay_seconds=None``).
DEFAULT_STREAM_RETRY_SECONDS = 1.0
_SQS_BATCH_LIMIT = 10  # entries per ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch


def start_pollers(
    environment: LocalEnvironment,
    pool: FunctionPool,
    log: Log = print,
    retry_delay_seconds: Optional[float] = 1.0,
) -> list["Poller"]:
    """Start a poller for every enabled event source of the environment; returns them, running.

    All pollers are made before any starts, so a source that cannot be polled raises with nothing left running.
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
            pollers.append(poller_class(source, pool, environment.endpoint, environment.region, log, retry_delay_seconds))
    for poller in pollers:
        poller.start()
    return pollers


def reported_failures(payload: Any, identifiers: list[str]) -> set[str]:
    """The batch items a function reported as failed in its partial batch response.

    Raises ``ValueError`` when Lambda would fail the whole batch instead: a response that is not
    a partial batch response, or an ``itemIdentifier`` missing, empty or not in the batch.
    """
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        raise ValueError(f"the response is not a partial batch response: {payload!r}")
    failures = payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise ValueError("batchItemFailures is not a list")
    known = set(identifiers)
    reported = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            raise ValueError(f"batchItemFailures names {identifier!r}, which is not in the batch")
        reported.add(identifier)
    return reported


class Poller:
    """A thread polling one event source until :meth:`stop`; subclasses do one poll at a time."""

    kind = ""

    def __init__(
        self,
        source: EventSource,
        pool: FunctionPool,
        endpoint: str,
        region: str,
        log: Log = print,
        retry_delay_seconds: Optional[float] = 1.0,
    ) -> None:
        self.source = source
        self.pool = pool
        self.endpoint = endpoint
        self.region = region
        self.retry_delay_seconds = retry_delay_seconds
        self._log = log
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller {self.name}", daemon=True)

    @property
    def name(self) -> str:
        return f"{self.source.stack}/{self.source.logical_id}"

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 2 * POLL_SECONDS) -> None:
        """Ask the thread to stop and wait for it (an invocation in progress may outlive ``timeout``)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def log(self, message: str) -> None:
        self._log(f"[{self.name}] {message}")

    def _run(self) -> None:
        reported = ""
        while not self._stopping.is_set():
            try:
                self.poll_once()
                reported = ""
            except Exception as error:  # the endpoint went away, a resource was deleted, ...
                if self._stopping.is_set():  # the run is shutting down around this poller
                    return
                text = f"{type(error).__name__}: {error}"
                if text != reported:  # once per distinct error, not once per second
                    self.log(f"{self.kind} polling failed, retrying: {text}")
                    reported = text
                self._stopping.wait(POLL_SECONDS)

    def poll_once(self) -> None:
        """Read one batch (or find none) and deliver it; :meth:`_run` calls this until stopped."""
        raise NotImplementedError

    def invoke(self, event: dict[str, Any]) -> Invocation:
        return self.pool.invoke(self.source.function, event)


# -- SQS ---------------------------------------------------------------------------------------------


def lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS's MessageAttributes in the shape of Lambda's SQS event (binary values as base64 text)."""
    shaped = {}
    for name, value in attributes.items():
        entry: dict[str, Any] = {}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = _base64(value["BinaryValue"])
        entry["stringListValues"] = list(value.get("StringListValues", []))
        entry["binaryListValues"] = [_base64(item) for item in value.get("BinaryListValues", [])]
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
        window_ends: Optional[float] = None
        while len(batch) < self.source.batch_size and not self._stopping.is_set():
            wait = POLL_SECONDS if window_ends is None else min(POLL_SECONDS, math.ceil(_seconds_left(window_ends)))
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
            if _seconds_left(window_ends) <= 0:
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
        for chunk in _chunks(messages, _SQS_BATCH_LIMIT):
            response = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):  # e.g. its visibility timeout ran out meanwhile
                self.log(f"could not delete message {chunk[int(failure['Id'])]['MessageId']}: {failure.get('Message')}")

    def _make_visible(self, messages: list[dict[str, Any]], seconds: int) -> None:
        for chunk in _chunks(messages, _SQS_BATCH_LIMIT):
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
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": _base64(inner)}
    if kind == "BS":
        return {"BS": [_base64(item) for item in inner]}
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


def _iso(epoch_seconds: float, milliseconds: bool = False) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds" if milliseconds else "seconds").replace("+00:00", "Z")


@dataclass
class _Shard:
    shard_id: str
    iterator: Optional[str]  # None once the shard is closed and read to its end


@dataclass
class _Attempt:
    """A (sub-)batch waiting for an invocation, and how many times its records were retried."""

    records: list[dict[str, Any]]
    retries: int = 0


class DynamoDBStreamPoller(Poller):
    """Reads a table's stream shard by shard and delivers each batch until it succeeds or is given up."""

    kind = "DynamoDB stream"

    def __init__(self, source: EventSource, *args: Any, **kwargs: Any) -> None:
        super().__init__(source, *args, **kwargs)
        self.stream_arn: str = source.stream_arn or source.source_arn
        retries = source.maximum_retry_attempts
        self.max_retries: int = UNLIMITED_RETRIES_CAP if retries is None or retries < 0 else retries
        self.retry_pause = DEFAULT_STREAM_RETRY_SECONDS if self.retry_delay_seconds is None else self.retry_delay_seconds
        self._streams = local_client("dynamodbstreams", self.endpoint, self.region)
        self._shards: Optional[list[_Shard]] = None
        self._checkpoints: dict[str, str] = {}  # shard id -> sequence number of the last record done

    def start(self) -> None:
        if self.source.maximum_retry_attempts is None or self.source.maximum_retry_attempts < 0:
            self.log(f"unlimited retries are capped at {UNLIMITED_RETRIES_CAP} locally")
        super().start()

    def poll_once(self) -> None:
        try:
            if self._shards is None:
                self._shards = self._open_shards()
            delivered = False
            for shard in self._shards:
                batch = self._read_batch(shard)
                if batch:
                    self._deliver(shard, batch)
                    delivered = True
            self._shards = [shard for shard in self._shards if shard.iterator]
        except Exception:
            self._shards = None  # read again from the checkpoints with fresh iterators
            raise
        if not delivered:
            self._stopping.wait(STREAM_IDLE_SECONDS)

    def _open_shards(self) -> list[_Shard]:
        shards: list[_Shard] = []
        arguments: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._streams.describe_stream(**arguments)["StreamDescription"]
            shards.extend(_Shard(shard["ShardId"], self._iterator(shard["ShardId"])) for shard in description["Shards"])
            if not description.get("LastEvaluatedShardId"):
                break
            arguments["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        resumed = [shard for shard in shards if shard.shard_id in self._checkpoints]
        where = f"{len(resumed)} from their checkpoints" if resumed else f"from {self._starting_position}"
        self.log(f"reading {len(shards)} shard(s) of {self.stream_arn} {where}")
        return shards

    @property
    def _starting_position(self) -> str:
        return self.source.starting_position or "LATEST"

    def _iterator(self, shard_id: str) -> Optional[str]:
        position: dict[str, Any] = {"ShardIteratorType": self._starting_position}
        if shard_id in self._checkpoints:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._checkpoints[shard_id]}
        response = self._streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **position)
        return response.get("ShardIterator")

    def _read_batch(self, shard: _Shard) -> list[dict[str, Any]]:
        """Up to ``batch_size`` records, gathered for at most the batching window after the first."""
        batch: list[dict[str, Any]] = []
        window_ends: Optional[float] = None
        while shard.iterator and len(batch) < self.source.batch_size and not self._stopping.is_set():
            response = self._streams.get_records(
                ShardIterator=shard.iterator, Limit=min(1000, self.source.batch_size - len(batch))
            )
            shard.iterator = response.get("NextShardIterator")
            records = response.get("Records", [])
            batch.extend(stream_record(record, self.stream_arn) for record in records)
            if not batch:
                break
            if window_ends is None:
                window_ends = time.monotonic() + self.source.batching_window_seconds
            if _seconds_left(window_ends) <= 0:
                break
            if not records:
                self._stopping.wait(min(STREAM_IDLE_SECONDS, _seconds_left(window_ends)))
        return batch

    def _deliver(self, shard: _Shard, batch: list[dict[str, Any]]) -> None:
        """Invoke until every record of the batch succeeded or was reported to the on-failure destination."""
        pending = deque([_Attempt(batch)])
        while pending and not self._stopping.is_set():
            attempt = pending.popleft()
            invocation = self.invoke({"Records": attempt.records})
            failed_from, function_error = self._first_failure(attempt.records, invocation)
            done = attempt.records if failed_from is None else attempt.records[:failed_from]
            if done:
                self._checkpoints[shard.shard_id] = _sequence_number(done[-1])
            if failed_from is None:
                continue
            remaining = attempt.records[failed_from:]
            if attempt.retries >= self.max_retries:
                self._give_up(shard, remaining, invocation, attempt.retries + 1, function_error)
                continue
            pending.extendleft(reversed(self._retries(attempt, remaining, function_error)))
            self._stopping.wait(self.retry_pause)

    def _retries(self, attempt: _Attempt, remaining: list[dict[str, Any]], function_error: bool) -> list[_Attempt]:
        """What to invoke next for a failed attempt: its two halves when bisecting, else its rest again.

        Splitting does not count as a retry, as on Lambda: a poison record is isolated first and
        then retried ``maximum_retry_attempts`` times on its own.
        """
        if function_error and self.source.bisect_on_error and len(remaining) > 1:
            middle = len(remaining) // 2
            self.log(f"batch of {len(remaining)} failed; bisecting")
            return [_Attempt(remaining[:middle], attempt.retries), _Attempt(remaining[middle:], attempt.retries)]
        self.log(f"retrying {len(remaining)} record(s) from sequence number {_sequence_number(remaining[0])} "
                 f"(retry {attempt.retries + 1} of {self.max_retries})")
        return [_Attempt(remaining, attempt.retries + 1)]

    def _first_failure(self, records: list[dict[str, Any]], invocation: Invocation) -> tuple[Optional[int], bool]:
        """Index of the first record to retry (``None``: all succeeded), and whether the whole invocation failed."""
        if not invocation.ok:
            return 0, True
        if not self.source.report_batch_item_failures:
            return None, False
        sequence_numbers = [_sequence_number(record) for record in records]
        try:
            failed = reported_failures(invocation.payload, sequence_numbers)
        except ValueError as error:
            self.log(f"invalid partial batch response, the whole batch failed: {error}")
            return 0, True
        if not failed:
            return None, False
        return min(sequence_numbers.index(number) for number in failed), False

    def _give_up(
        self,
        shard: _Shard,
        records: list[dict[str, Any]],
        invocation: Invocation,
        invoke_count: int,
        function_error: bool,
    ) -> None:
        """Describe the records to the on-failure destination (if any) and move past them."""
        first, last = _sequence_number(records[0]), _sequence_number(records[-1])
        if self.source.on_failure_arn:
            record = self._failure_record(shard, records, invocation, invoke_count, function_error)
            self._send(self.source.on_failure_arn, json.dumps(record))
            self.log(f"retries exhausted; records {first}..{last} described to {self.source.on_failure_arn}")
        else:
            self.log(f"retries exhausted; records {first}..{last} are skipped (no on-failure destination)")
        self._checkpoints[shard.shard_id] = last

    def _failure_record(
        self,
        shard: _Shard,
        records: list[dict[str, Any]],
        invocation: Invocation,
        invoke_count: int,
        function_error: bool,
    ) -> dict[str, Any]:
        """Lambda's on-failure destination record for a stream batch whose retries ran out."""
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response_context["functionError"] = "Unhandled"
        created = [record["dynamodb"].get("ApproximateCreationDateTime", 0) for record in records]
        return {
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": self.source.function.arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": _iso(time.time(), milliseconds=True),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": _sequence_number(records[0]),
                "endSequenceNumber": _sequence_number(records[-1]),
                "approximateArrivalOfFirstRecord": _iso(created[0]),
                "approximateArrivalOfLastRecord": _iso(created[-1]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }

    def _send(self, destination_arn: str, message: str) -> None:
        """Send to an SQS queue or publish to an SNS topic, whichever the ARN names."""
        _, _, service, _, account, name = destination_arn.split(":", 5)
        if service == "sqs":
            sqs = local_client("sqs", self.endpoint, self.region)
            queue_url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=message)
        elif service == "sns":
            local_client("sns", self.endpoint, self.region).publish(TopicArn=destination_arn, Message=message)
        else:
            raise ValueError(f"unsupported on-failure destination {destination_arn}")


def _sequence_number(record: dict[str, Any]) -> str:
    return record["dynamodb"]["SequenceNumber"]


# -- helpers -----------------------------------------------------------------------------------------


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _seconds_left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


_POLLERS: dict[str, type[Poller]] = {"sqs": SqsPoller, "dynamodb": DynamoDBStreamPoller}
