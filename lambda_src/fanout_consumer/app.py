"""Consume one subscriber queue of an SNS -> SQS fan-out, applying each message exactly once.

Each SQS body is a JSON object: the published message (raw delivery) or SNS's envelope. Each
message is applied as one conditional ``PutItem`` into the destination table, keyed by its
idempotency key (``attribute_not_exists(id)``). That one write is the idempotency guard: a
redelivered message (or, with ``IDEMPOTENCY_KEY_FIELD``, a republished event) fails the condition,
which means "already applied", and is reported as a success without a second request (the item
that won comes back with the failure, ``ReturnValuesOnConditionCheckFailure``, for the log). One
DynamoDB request per message, duplicates included, and no window in which a key is remembered:
the item itself is the memory, for as long as it exists. So the key must identify the *event*: a
key shared by distinct events (an entity key such as an order id) makes every event after the
first a "duplicate", acknowledged and dropped. A malformed message fails alone (partial batch
response), returns to the queue and reaches the DLQ after the queue's ``maxReceiveCount``. A
write that fails for another reason (throttling, a missing table) changes nothing, so the retry
applies it.

From a FIFO queue (the event source ARN ends in ``.fifo``) order within a message group is
kept: once a record fails, every later record of its group in the batch is reported as failed
too, unapplied, so the group resumes from the failed record; records of other groups are
applied as usual.

The batch loop is written here rather than taken from Powertools' batch utility, and the client
is botocore's rather than boto3's: both cost cold-start time (tens of milliseconds of imports)
for nothing this function uses. Logs are Powertools' structured logs.

Environment:
    TABLE_NAME               destination table, partition key ``id`` (string).
    IDEMPOTENCY_KEY_FIELD    optional top-level body field holding the event's id (a non-empty
                             string or an integer), set once per event by its publisher, e.g.
                             ``event_id``; ``MessageId`` for SNS's envelope (raw delivery off).
                             Unset: the SQS ``messageId`` (new for each SNS delivery).
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL  optional, for the Logger.
    (``IDEMPOTENCY_TABLE_NAME`` and ``IDEMPOTENCY_TTL_SECONDS``, which ``FanoutQueue`` also sets for
    consumers that use Powertools idempotency, are not read: this consumer needs no second table.)

DynamoDB actions (checked by recording every call in the tests):
    destination table (TABLE_NAME): dynamodb:PutItem
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime
from typing import Any

import botocore.session
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["TABLE_NAME"]
KEY_FIELD = os.environ.get("IDEMPOTENCY_KEY_FIELD") or None

logger = Logger()
# One low-level client per execution environment, made during init.
_session = botocore.session.get_session()
dynamodb = _session.create_client("dynamodb")


def _after_restore() -> None:
    """SnapStart: each environment restored from the snapshot gets its own client (new connections,
    credentials resolved anew) and random seed, not the copies frozen in the snapshot. The service
    models stay loaded: the new session shares the old one's loader."""
    global dynamodb
    session = botocore.session.get_session()
    session.register_component("data_loader", _session.get_component("data_loader"))
    dynamodb = session.create_client("dynamodb")
    random.seed()


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # set by Lambda; the hooks' library is there
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda's runtime only

    register_after_restore(_after_restore)


class MalformedMessage(ValueError):
    """The message is not one this function can apply; it fails alone and ends in the DLQ."""


def idempotency_key(record: dict[str, Any]) -> str:
    """The message's idempotency key: the event id from the body, or the SQS messageId."""
    try:
        body = json.loads(record["body"])
    except json.JSONDecodeError as error:
        raise MalformedMessage(f"body is not JSON: {error.msg}") from None
    if not isinstance(body, dict):
        raise MalformedMessage("body must be a JSON object")
    if KEY_FIELD is None:
        message_id: str = record["messageId"]
        return message_id
    value = body.get(KEY_FIELD)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise MalformedMessage(f"body needs a non-empty string or integer {KEY_FIELD!r}")


def apply_message(key: str, record: dict[str, Any]) -> str:
    """Write the message's item unless its key was applied; the message id that applied it."""
    try:
        dynamodb.put_item(
            TableName=TABLE_NAME,
            Item={
                "id": {"S": key},
                "message_id": {"S": record["messageId"]},
                "body": {"S": record["body"]},
                "processed_at": {"S": datetime.now(UTC).isoformat()},
            },
            ConditionExpression="attribute_not_exists(id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        existing = error.response.get("Item") or {}
        applied_by: str = existing.get("message_id", {}).get("S", "")
        return applied_by
    message_id: str = record["messageId"]
    return message_id


def record_handler(record: dict[str, Any]) -> None:
    message_id = record["messageId"]
    try:
        key = idempotency_key(record)
    except MalformedMessage as error:
        logger.warning("malformed message", extra={"message_id": message_id, "reason": str(error)})
        raise
    try:
        applied_by = apply_message(key, record)
    except Exception:
        logger.exception("message not applied", extra={"message_id": message_id, "key": key})
        raise
    logger.info(
        "message processed",
        extra={
            "message_id": message_id,
            "key": key,
            "applied_by_message_id": applied_by,
            "duplicate": applied_by != message_id,
        },
    )


def is_fifo(event: dict[str, Any]) -> bool:
    """Whether the batch comes from a FIFO queue (its ARN ends in ``.fifo``)."""
    records = event.get("Records") or [{}]
    return (records[0].get("eventSourceARN") or "").endswith(".fifo")


def process_batch(event: dict[str, Any]) -> dict[str, Any]:
    """Apply each record; report the failed ones (and, from a FIFO queue, the rest of their group)."""
    fifo = is_fifo(event)
    failed_groups: set[str | None] = set()
    failures = []
    for record in event.get("Records") or []:
        group = (record.get("attributes") or {}).get("MessageGroupId") if fifo else None
        if fifo and group in failed_groups:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        try:
            record_handler(record)
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
            if fifo:
                failed_groups.add(group)
    return {"batchItemFailures": failures}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_batch(event)
