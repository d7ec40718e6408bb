"""Record each event from an SQS queue as one item in a DynamoDB table, once.

Events are JSON objects with a string ``id``; the item is keyed by it and written with one
conditional ``PutItem`` (``attribute_not_exists(id)``). That write is the idempotency guard: a
redelivered event fails the condition, which means "already recorded", and is reported as a
success, so the first recording stands and every event costs exactly one DynamoDB request. A
record that is not such an event fails alone (partial batch response) and reaches the queue's
DLQ after its receive limit.

The batch loop is written here and the client is botocore's (not boto3's): Powertools' batch
utility and boto3's session layer cost cold-start time for nothing this function uses.

Environment: ``TABLE_NAME``. DynamoDB actions: PutItem.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import botocore.session
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

logger = Logger()
# One low-level client per execution environment, made during init.
_session = botocore.session.get_session()
dynamodb = _session.create_client("dynamodb")
TABLE_NAME = os.environ["TABLE_NAME"]


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


class MalformedEvent(ValueError):
    """The record's body is not an event this function can record."""


def parse_event(body: str) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except json.JSONDecodeError as error:
        raise MalformedEvent(f"body is not JSON: {error.msg}") from None
    if not isinstance(event, dict):
        raise MalformedEvent("body must be a JSON object")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise MalformedEvent("body needs a non-empty string 'id'")
    return event


def _condition_failed(error: Exception) -> bool:
    """The conditional write found the item: this event was recorded before."""
    return (
        isinstance(error, ClientError)
        and error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
    )


def record_handler(record: dict[str, Any]) -> None:
    message_id = record["messageId"]
    try:
        event = parse_event(record["body"])
    except MalformedEvent as error:
        logger.warning("malformed event", extra={"message_id": message_id, "reason": str(error)})
        raise
    try:
        dynamodb.put_item(
            TableName=TABLE_NAME,
            Item={"id": {"S": event["id"]}, "event": {"S": record["body"]}, "message_id": {"S": message_id}},
            ConditionExpression="attribute_not_exists(id)",
        )
    except Exception as error:
        if not _condition_failed(error):
            logger.exception("event not recorded", extra={"event_id": event["id"], "message_id": message_id})
            raise
        logger.info("event already recorded", extra={"event_id": event["id"], "message_id": message_id})
        return
    logger.info("recorded event", extra={"event_id": event["id"], "message_id": message_id})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures = []
    for record in event.get("Records") or []:
        try:
            record_handler(record)
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
