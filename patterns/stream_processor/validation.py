"""The checks ``StreamProcessor`` makes of its props before it builds anything."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Token
from aws_cdk import aws_lambda as lambda_

#: Lambda's limits on a stream event source mapping (Kinesis and DynamoDB streams).
MAX_BATCH_SIZE = 10_000
MAX_BATCHING_WINDOW = Duration.minutes(5)
MAX_TUMBLING_WINDOW = Duration.minutes(15)
MAX_RETRY_ATTEMPTS = 10_000
MIN_RECORD_AGE = Duration.minutes(1)
MAX_RECORD_AGE = Duration.days(7)
MIN_RETENTION = Duration.hours(24)
MAX_RETENTION = Duration.days(365)


def _seconds(duration: Duration) -> float:
    return duration.to_seconds()


def check_source(
    *,
    stream: Any,
    source_table: Any,
    retention_period: Duration | None,
    shard_count: int | None,
    enhanced_fan_out: bool,
    starting_position: lambda_.StartingPosition,
) -> None:
    """One source, and only the props that describe it."""
    if stream is not None and source_table is not None:
        raise ValueError("give stream= or source_table=, not both: a mapping reads one source")
    if source_table is not None and not source_table.table_stream_arn:
        raise ValueError(
            "source_table has no stream: create it with stream=StreamViewType.NEW_IMAGE (or NEW_AND_OLD_IMAGES); "
            "an imported table needs table_stream_arn"
        )
    made_here = stream is None and source_table is None
    if not made_here and (retention_period is not None or shard_count is not None):
        raise ValueError(
            "retention_period and shard_count describe a new stream: they cannot go with stream= or source_table="
        )
    if retention_period is not None and not (
        _seconds(MIN_RETENTION) <= _seconds(retention_period) <= _seconds(MAX_RETENTION)
    ):
        raise ValueError("retention_period must be between 24 hours and 365 days")
    if shard_count is not None and shard_count < 1:
        raise ValueError(f"shard_count must be at least 1, got {shard_count}")
    if enhanced_fan_out and source_table is not None:
        raise ValueError("enhanced_fan_out is a Kinesis feature: a DynamoDB table's stream has no consumers")
    if starting_position == lambda_.StartingPosition.AT_TIMESTAMP:
        raise ValueError("starting_position AT_TIMESTAMP needs a timestamp: use TRIM_HORIZON or LATEST")


def check_mapping(
    *,
    batch_size: int,
    max_batching_window: Duration,
    parallelization_factor: int,
    retry_attempts: int,
    max_record_age: Duration,
    tumbling_window: Duration | None,
    retention_period: Duration,
    max_iterator_age: Duration,
) -> None:
    """Each knob of the event source mapping within what Lambda accepts, and consistent with the others."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}")
    if not 0 <= _seconds(max_batching_window) <= _seconds(MAX_BATCHING_WINDOW):
        raise ValueError("max_batching_window must be between 0 and 5 minutes")
    if not 1 <= parallelization_factor <= 10:
        raise ValueError(f"parallelization_factor must be between 1 and 10, got {parallelization_factor}")
    if not 0 <= retry_attempts <= MAX_RETRY_ATTEMPTS:
        raise ValueError(
            f"retry_attempts must be between 0 and {MAX_RETRY_ATTEMPTS}, got {retry_attempts} (unlimited retries "
            "would hold a failing shard until its records expire)"
        )
    if not _seconds(MIN_RECORD_AGE) <= _seconds(max_record_age) <= _seconds(MAX_RECORD_AGE):
        raise ValueError("max_record_age must be between 1 minute and 7 days")
    if _seconds(max_record_age) > _seconds(retention_period):
        raise ValueError(
            f"max_record_age ({_seconds(max_record_age):.0f} s) is longer than the stream keeps records "
            f"({_seconds(retention_period):.0f} s): records would expire before they are given up, unreported"
        )
    if tumbling_window is not None and not 1 <= _seconds(tumbling_window) <= _seconds(MAX_TUMBLING_WINDOW):
        raise ValueError("tumbling_window must be between 1 second and 15 minutes")
    if tumbling_window is not None and _seconds(tumbling_window) > 0 and parallelization_factor != 1:
        raise ValueError(
            f"parallelization_factor must be 1 with a tumbling window, got {parallelization_factor}: Lambda keeps "
            "one window state per shard, and concurrent batches of a shard would race on it and on the "
            "window's applied sequence range (counts lost without an error)"
        )
    if _seconds(max_iterator_age) <= 0:
        raise ValueError("max_iterator_age must be positive")


def check_function(
    *,
    function: lambda_.IFunction | None,
    code: lambda_.Code | None,
    handler: str | None,
    key_field: str | None,
    value_field: str | None,
    tumbling_window: Duration | None,
    table_given: bool,
    report_batch_item_failures: bool,
) -> None:
    """Bundled aggregator, your code, or your function: each with the props that apply to it."""
    if function is not None and code is not None:
        raise ValueError("give function= or code=, not both")
    if handler is not None and code is None:
        raise ValueError("handler= needs code=: the bundled aggregator's entry point is fixed")
    bundled = function is None and code is None
    if not bundled and (key_field is not None or value_field is not None or table_given):
        raise ValueError(
            "key_field, value_field and table configure the bundled aggregator: not with function= or code="
        )
    if bundled and not report_batch_item_failures:
        raise ValueError(
            "the bundled aggregator needs report_batch_item_failures=True: it reports a poison record after "
            "good ones as a partial failure, which without it would read as a success and the rest be dropped"
        )
    if bundled and tumbling_window is not None and _seconds(tumbling_window) == 0:
        raise ValueError("the bundled aggregator needs a tumbling window: it writes each window when it closes")
    for name, value in (("key_field", key_field), ("value_field", value_field)):
        if value is not None and not (value.strip() and len(value) <= 255):
            raise ValueError(f"{name} must be a non-empty attribute name of at most 255 characters")
    if function is not None and function.role is None:
        raise ValueError(
            "function= has no role this app can change (an imported function): the pattern could not let it "
            "read the stream nor reach the on-failure destination; import it with its role"
        )


def check_destination(failure_destination: Any) -> None:
    """A stream mapping's on-failure destination is a standard queue."""
    fifo = getattr(failure_destination, "fifo", False)
    if failure_destination is not None and fifo and not Token.is_unresolved(fifo):
        raise ValueError("failure_destination must be a standard queue: Lambda cannot send stream failures to FIFO")
