"""Consume one subscriber queue of an SNS -> SQS fan-out, applying each message exactly once.

Each SQS body is a JSON object: the published message (raw delivery) or SNS's envelope. Each
message is applied as one conditional ``PutItem`` into the destination table, keyed by its
idempotency key. Powertools' idempotency layer makes a redelivered message (or, with
``IDEMPOTENCY_KEY_FIELD``, a republished event) return the stored result instead of writing
again, and report success. So the key must identify the *event*: a key shared by distinct
events (an entity key such as an order id) makes every event after the first a "duplicate",
acknowledged and dropped. A malformed message fails alone (partial batch response),
returns to the queue and reaches the DLQ after the queue's ``maxReceiveCount``.

From a FIFO queue (the event source ARN ends in ``.fifo``) order within a message group is
kept: once a record fails, every later record of its group in the batch is reported as failed
too, unapplied, so the group resumes from the failed record; records of other groups are
applied as usual (Powertools' ``SqsFifoPartialProcessor`` with ``skip_group_on_error``).

Environment:
    TABLE_NAME               destination table, partition key ``id`` (string).
    IDEMPOTENCY_TABLE_NAME   Powertools idempotency table, partition key ``id`` (string),
                             TTL attribute ``expiration`` (enable TTL on it).
    IDEMPOTENCY_TTL_SECONDS  how long a processed key is remembered; default 3600.
    IDEMPOTENCY_KEY_FIELD    optional top-level body field holding the event's id (a non-empty
                             string or an integer), set once per event by its publisher, e.g.
                             ``event_id``; ``MessageId`` for SNS's envelope (raw delivery off).
                             Unset: the SQS ``messageId`` (new for each SNS delivery).
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL  optional, for the Logger.

DynamoDB actions (checked by recording every call in the tests):
    destination table (TABLE_NAME): dynamodb:PutItem
    idempotency table (IDEMPOTENCY_TABLE_NAME): dynamodb:PutItem, dynamodb:GetItem, dynamodb:UpdateItem, dynamodb:DeleteItem

On the idempotency table: PutItem (conditional) claims a key as INPROGRESS; UpdateItem marks it
COMPLETED with the result; DeleteItem releases it when applying the message raised, so a retry
can apply it; GetItem reads the existing record when a failed claim did not return it
(DynamoDB normally returns it with ``ReturnValuesOnConditionCheckFailure``, so GetItem is the
fallback path).

Keep the queue's visibility timeout above the function timeout, or an in-flight message can
be delivered again while its key is still INPROGRESS (that record then fails and is retried).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["TABLE_NAME"]
KEY_FIELD = os.environ.get("IDEMPOTENCY_KEY_FIELD") or None

logger = Logger()
# An all-failed batch is reported record by record, like any other, instead of raising.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# A FIFO queue's failed record fails every later record of its message group, which would
# otherwise be applied (and deleted) ahead of it; other groups keep flowing.
fifo_processor = SqsFifoPartialProcessor(skip_group_on_error=True)
fifo_processor.raise_on_entire_batch_failure = False
dynamodb = boto3.client("dynamodb")
persistence_store = DynamoDBPersistenceLayer(
    table_name=os.environ["IDEMPOTENCY_TABLE_NAME"], boto3_client=dynamodb
)
idempotency_config = IdempotencyConfig(
    event_key_jmespath="key",  # only the key identifies a message, not its whole payload
    raise_on_no_idempotency_key=True,
    expires_after_seconds=int(os.environ.get("IDEMPOTENCY_TTL_SECONDS", "3600")),
)


class MalformedMessage(ValueError):
    """The message is not one this function can apply; it fails alone and ends in the DLQ."""


def idempotency_key(record: SQSRecord) -> str:
    """The message's idempotency key: the event id from the body, or the SQS messageId."""
    try:
        body = json.loads(record.body)
    except json.JSONDecodeError as error:
        raise MalformedMessage(f"body is not JSON: {error.msg}") from None
    if not isinstance(body, dict):
        raise MalformedMessage("body must be a JSON object")
    if KEY_FIELD is None:
        return record.message_id
    value = body.get(KEY_FIELD)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise MalformedMessage(f"body needs a non-empty string or integer {KEY_FIELD!r}")


@idempotent_function(
    data_keyword_argument="message", persistence_store=persistence_store, config=idempotency_config
)
def apply_message(message: dict) -> dict:
    """Write the message's item once; the result is what a duplicate gets back."""
    processed_at = datetime.now(timezone.utc).isoformat()
    try:
        dynamodb.put_item(
            TableName=TABLE_NAME,
            Item={
                "id": {"S": message["key"]},
                "message_id": {"S": message["message_id"]},
                "body": {"S": message["body"]},
                "processed_at": {"S": processed_at},
            },
            ConditionExpression="attribute_not_exists(id)",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        # The idempotency record expired but the item is there: the message was applied before.
        logger.warning("item already applied", extra={"message_id": message["message_id"], "key": message["key"]})
        return {"id": message["key"], "message_id": message["message_id"], "already_applied": True}
    return {"id": message["key"], "message_id": message["message_id"], "processed_at": processed_at}


def record_handler(record: SQSRecord) -> None:
    try:
        key = idempotency_key(record)
    except MalformedMessage as error:
        logger.warning("malformed message", extra={"message_id": record.message_id, "reason": str(error)})
        raise
    try:
        result = apply_message(message={"key": key, "message_id": record.message_id, "body": record.body})
    except Exception:
        logger.exception("message not applied", extra={"message_id": record.message_id, "key": key})
        raise
    logger.info(
        "message processed",
        extra={"message_id": record.message_id, "key": key, "applied_by_message_id": result["message_id"]},
    )


def processor_for(event: dict) -> BatchProcessor:
    """The FIFO processor for a batch from a FIFO queue (its ARN ends in ``.fifo``), else the standard one."""
    records = event.get("Records") or [{}]
    source = records[0].get("eventSourceARN") or ""
    return fifo_processor if source.endswith(".fifo") else processor


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    idempotency_config.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor_for(event), context=context
    )
