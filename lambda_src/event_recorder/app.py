"""Record each event from an SQS queue as one item in a DynamoDB table.

Events are JSON objects with a string ``id``; the item is keyed by it, so a redelivered event
overwrites its own item and has its effect once. A record that is not such an event fails
alone (partial batch response) and reaches the queue's DLQ after its receive limit.

Environment: ``TABLE_NAME``. DynamoDB actions: PutItem.
"""

from __future__ import annotations

import json
import os

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger()
# An all-failed batch is reported record by record, like any other, instead of raising.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# A low-level client: the resource layer would load a second model on every cold start.
dynamodb = boto3.client("dynamodb")
TABLE_NAME = os.environ["TABLE_NAME"]


class MalformedEvent(ValueError):
    """The record's body is not an event this function can record."""


def parse_event(body: str) -> dict:
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


def record_handler(record: SQSRecord) -> None:
    event = parse_event(record.body)
    dynamodb.put_item(
        TableName=TABLE_NAME,
        Item={"id": {"S": event["id"]}, "event": {"S": record.body}, "message_id": {"S": record.message_id}},
    )
    logger.info("recorded event", extra={"event_id": event["id"], "message_id": record.message_id})


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
