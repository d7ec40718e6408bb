"""What a local poller of a shard-based stream does, for DynamoDB streams and Kinesis alike.

Records are read per shard from the mapping's starting position (or from where the poller left
off). A failing batch is retried - from the first reported failure with
``ReportBatchItemFailures``, in halves with bisect-on-error - up to ``maximum_retry_attempts``
times, then described to the on-failure destination and skipped: one poison record does not
block its shard. Unlimited retries (the AWS default, until records expire) are capped at
:data:`UNLIMITED_RETRIES_CAP` locally. Only the shards present when the poller starts are read.

Tumbling windows (``TumblingWindowInSeconds``): records go to the window their arrival time falls
in; each invocation holds records of one window, with the ``state`` the window's last successful
invocation returned (a response without ``state`` is a failed invocation, as on Lambda). When the
window ends (by the clock, or because a record of a later window arrives) the function is called
once more with ``isFinalInvokeForWindow`` and no records, retried until it succeeds (capped like
any retry). With ``window_idle_seconds`` a local run also closes a window that has had no record
for that long, as ``isWindowTerminatedEarly``: later records of the same window then start it
afresh, as Lambda does after ending a window early, so tests need not wait for a window's end.

Subclasses say how to list shards, get an iterator, read records and shape them for Lambda.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .endpoint import local_client
from .model import EventSource, Invocation
from .pollers_base import Poller, iso, reported_failures, seconds_left

#: How often an idle stream is read again. Lambda reads a shard 4 times a second; half that is
#: prompt enough locally, and moto's server keeps every shard iterator it hands out.
STREAM_IDLE_SECONDS = 0.5
#: Retries of a failing stream batch when the mapping allows unlimited ones.
UNLIMITED_RETRIES_CAP = 10
#: Pause between stream retries when the run keeps AWS timings (``retry_delay_seconds=None``).
DEFAULT_STREAM_RETRY_SECONDS = 1.0


@dataclass
class Shard:
    shard_id: str
    iterator: str | None  # None once the shard is closed and read to its end


@dataclass
class _Attempt:
    """A (sub-)batch waiting for an invocation, and how many times its records were retried."""

    records: list[dict[str, Any]]
    retries: int = 0


@dataclass
class Window:
    """The open tumbling window of a shard: its bounds (epoch seconds) and the state carried between invocations."""

    start: float
    end: float
    state: dict[str, Any] = field(default_factory=dict)
    last_record: float = field(default_factory=time.monotonic)  # when a record of it was last delivered


class StreamPoller(Poller):
    """Reads a stream shard by shard and delivers each batch until it succeeds or is given up."""

    kind = "stream"
    #: The key of the on-failure record's batch description ("DDBStreamBatchInfo", "KinesisBatchInfo").
    batch_info_key = ""
    #: The most records one GetRecords call may return.
    records_limit = 1000

    def __init__(self, source: EventSource, *args: Any, **kwargs: Any) -> None:
        super().__init__(source, *args, **kwargs)
        self.stream_arn: str = source.stream_arn or source.source_arn
        retries = source.maximum_retry_attempts
        self.max_retries: int = UNLIMITED_RETRIES_CAP if retries is None or retries < 0 else retries
        pause = self.retry_delay_seconds
        self.retry_pause = DEFAULT_STREAM_RETRY_SECONDS if pause is None else pause
        self._shards: list[Shard] | None = None
        self._checkpoints: dict[str, str] = {}  # shard id -> sequence number of the last record done
        self._windows: dict[str, Window] = {}  # shard id -> its open tumbling window

    # -- what a stream service answers; subclasses say how -----------------------------------------

    def shard_ids(self) -> list[str]:
        raise NotImplementedError

    def shard_iterator(self, shard_id: str, iterator_type: str, after: str | None) -> str | None:
        """An iterator of ``iterator_type`` (TRIM_HORIZON, LATEST, or AFTER_SEQUENCE_NUMBER ``after``)."""
        raise NotImplementedError

    def get_records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Lambda-shaped records from ``iterator`` and the next iterator."""
        raise NotImplementedError

    def sequence_number(self, record: dict[str, Any]) -> str:
        raise NotImplementedError

    def arrival_seconds(self, record: dict[str, Any]) -> float:
        raise NotImplementedError

    # -- polling -----------------------------------------------------------------------------------

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
                self._close_due_window(shard)
            self._shards = [shard for shard in self._shards if shard.iterator or shard.shard_id in self._windows]
        except Exception:
            self._shards = None  # read again from the checkpoints with fresh iterators
            raise
        if not delivered:
            self._stopping.wait(STREAM_IDLE_SECONDS)

    def _open_shards(self) -> list[Shard]:
        shards = [Shard(shard_id, self._iterator(shard_id)) for shard_id in self.shard_ids()]
        resumed = [shard for shard in shards if shard.shard_id in self._checkpoints]
        where = f"{len(resumed)} from their checkpoints" if resumed else f"from {self._starting_position}"
        self.log(f"reading {len(shards)} shard(s) of {self.stream_arn} {where}")
        return shards

    @property
    def _starting_position(self) -> str:
        return self.source.starting_position or "LATEST"

    def _iterator(self, shard_id: str) -> str | None:
        if shard_id in self._checkpoints:
            return self.shard_iterator(shard_id, "AFTER_SEQUENCE_NUMBER", self._checkpoints[shard_id])
        return self.shard_iterator(shard_id, self._starting_position, None)

    def _read_batch(self, shard: Shard) -> list[dict[str, Any]]:
        """Up to ``batch_size`` records, gathered for at most the batching window after the first."""
        batch: list[dict[str, Any]] = []
        window_ends: float | None = None
        while shard.iterator and len(batch) < self.source.batch_size and not self._stopping.is_set():
            records, shard.iterator = self.get_records(
                shard.iterator, min(self.records_limit, self.source.batch_size - len(batch))
            )
            batch.extend(records)
            if not batch:
                break
            if window_ends is None:
                window_ends = time.monotonic() + self.source.batching_window_seconds
            if seconds_left(window_ends) <= 0:
                break
            if not records:
                self._stopping.wait(min(STREAM_IDLE_SECONDS, seconds_left(window_ends)))
        return batch

    # -- delivery ----------------------------------------------------------------------------------

    def _deliver(self, shard: Shard, batch: list[dict[str, Any]]) -> None:
        """Deliver a batch: as it is, or one tumbling window's records at a time."""
        size = self.source.tumbling_window_seconds
        if not size:
            self._deliver_run(shard, batch, None)
            return
        runs: list[tuple[float, list[dict[str, Any]]]] = []
        for record in batch:
            start: float = math.floor(self.arrival_seconds(record) / size) * size
            if not runs or runs[-1][0] != start:
                runs.append((start, []))
            runs[-1][1].append(record)
        for start, records in runs:
            window = self._windows.get(shard.shard_id)
            if window is not None and window.start != start:
                self._close_window(shard, window, early=False)
            window = self._windows.setdefault(shard.shard_id, Window(start, start + size))
            self._deliver_run(shard, records, window)
            window.last_record = time.monotonic()

    def _deliver_run(self, shard: Shard, batch: list[dict[str, Any]], window: Window | None) -> None:
        """Invoke until every record of the batch succeeded or was reported to the on-failure destination."""
        pending = deque([_Attempt(batch)])
        while pending and not self._stopping.is_set():
            attempt = pending.popleft()
            invocation = self.invoke(self._event(shard, attempt.records, window))
            failed_from, function_error = self._first_failure(attempt.records, invocation, window)
            done = attempt.records if failed_from is None else attempt.records[:failed_from]
            if done:
                self._checkpoints[shard.shard_id] = self.sequence_number(done[-1])
            if failed_from is None:
                continue
            remaining = attempt.records[failed_from:]
            if attempt.retries >= self.max_retries:
                self._give_up(shard, remaining, invocation, attempt.retries + 1, function_error)
                continue
            pending.extendleft(reversed(self._retries(attempt, remaining, function_error)))
            self._stopping.wait(self.retry_pause)

    def _event(self, shard: Shard, records: list[dict[str, Any]], window: Window | None) -> dict[str, Any]:
        event: dict[str, Any] = {"Records": records}
        if window is not None:
            event.update(self._window_fields(shard, window, final=False, early=False))
        return event

    def _window_fields(self, shard: Shard, window: Window, *, final: bool, early: bool) -> dict[str, Any]:
        return {
            "window": {"start": iso(window.start), "end": iso(window.end)},
            "state": window.state,
            "shardId": shard.shard_id,
            "eventSourceARN": self.stream_arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": early,
        }

    def _retries(self, attempt: _Attempt, remaining: list[dict[str, Any]], function_error: bool) -> list[_Attempt]:
        """What to invoke next for a failed attempt: its two halves when bisecting, else its rest again.

        Splitting does not count as a retry, as on Lambda: a poison record is isolated first and
        then retried ``maximum_retry_attempts`` times on its own.
        """
        if function_error and self.source.bisect_on_error and len(remaining) > 1:
            middle = len(remaining) // 2
            self.log(f"batch of {len(remaining)} failed; bisecting")
            return [_Attempt(remaining[:middle], attempt.retries), _Attempt(remaining[middle:], attempt.retries)]
        self.log(
            f"retrying {len(remaining)} record(s) from sequence number {self.sequence_number(remaining[0])} "
            f"(retry {attempt.retries + 1} of {self.max_retries})"
        )
        return [_Attempt(remaining, attempt.retries + 1)]

    def _first_failure(
        self, records: list[dict[str, Any]], invocation: Invocation, window: Window | None
    ) -> tuple[int | None, bool]:
        """Index of the first record to retry (``None``: all succeeded), and whether the whole invocation failed."""
        if not invocation.ok:
            return 0, True
        if window is not None:
            if not isinstance(invocation.payload, dict) or not isinstance(invocation.payload.get("state"), dict):
                self.log("the response has no state, which fails a tumbling-window invocation")
                return 0, True
            window.state = invocation.payload["state"]
        if not self.source.report_batch_item_failures:
            return None, False
        sequence_numbers = [self.sequence_number(record) for record in records]
        try:
            failed = reported_failures(invocation.payload, sequence_numbers)
        except ValueError as error:
            self.log(f"invalid partial batch response, the whole batch failed: {error}")
            return 0, True
        if not failed:
            return None, False
        return min(sequence_numbers.index(number) for number in failed), False

    # -- windows -----------------------------------------------------------------------------------

    def _close_due_window(self, shard: Shard) -> None:
        window = self._windows.get(shard.shard_id)
        if window is None:
            return
        if time.time() >= window.end:
            self._close_window(shard, window, early=False)
        elif self.window_idle_seconds is not None and time.monotonic() - window.last_record >= self.window_idle_seconds:
            self._close_window(shard, window, early=True)

    def _close_window(self, shard: Shard, window: Window, *, early: bool) -> None:
        """The final invocation of a window, retried until it succeeds (the shard waits, as on Lambda)."""
        event = {"Records": [], **self._window_fields(shard, window, final=True, early=early)}
        for attempt in range(self.max_retries + 1):
            invocation = self.invoke(event)
            if invocation.ok:
                break
            if self._stopping.is_set():
                return
            self.log(f"final invocation of window {iso(window.start)} failed (attempt {attempt + 1})")
            self._stopping.wait(self.retry_pause)
        else:
            self.log(f"window {iso(window.start)} given up after {self.max_retries + 1} final invocations")
        del self._windows[shard.shard_id]

    # -- giving up ---------------------------------------------------------------------------------

    def _give_up(
        self,
        shard: Shard,
        records: list[dict[str, Any]],
        invocation: Invocation,
        invoke_count: int,
        function_error: bool,
    ) -> None:
        """Describe the records to the on-failure destination (if any) and move past them."""
        first, last = self.sequence_number(records[0]), self.sequence_number(records[-1])
        if self.source.on_failure_arn:
            record = self._failure_record(shard, records, invocation, invoke_count, function_error)
            self._send(self.source.on_failure_arn, json.dumps(record))
            self.log(f"retries exhausted; records {first}..{last} described to {self.source.on_failure_arn}")
        else:
            self.log(f"retries exhausted; records {first}..{last} are skipped (no on-failure destination)")
        self._checkpoints[shard.shard_id] = last

    def _failure_record(
        self,
        shard: Shard,
        records: list[dict[str, Any]],
        invocation: Invocation,
        invoke_count: int,
        function_error: bool,
    ) -> dict[str, Any]:
        """Lambda's on-failure destination record for a stream batch whose retries ran out."""
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response_context["functionError"] = "Unhandled"
        return {
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": self.source.function.arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": iso(time.time(), milliseconds=True),
            self.batch_info_key: {
                "shardId": shard.shard_id,
                "startSequenceNumber": self.sequence_number(records[0]),
                "endSequenceNumber": self.sequence_number(records[-1]),
                "approximateArrivalOfFirstRecord": iso(self.arrival_seconds(records[0])),
                "approximateArrivalOfLastRecord": iso(self.arrival_seconds(records[-1])),
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
