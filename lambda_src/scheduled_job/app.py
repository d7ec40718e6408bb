"""The demo's nightly job: purge the items that expired before the scheduled time, write a summary row.

DynamoDB's TTL deletes expired items eventually (within days); this job deletes them by the
scheduled time, so reports and scans never see them. It runs through ``run_once``: a duplicate
delivery does nothing, and a retried run purges what an earlier attempt left (the cut-off is the
scheduled time, not the clock) and writes the day's summary row in place of any earlier one.

An item whose ``expires_at`` is not epoch seconds fails the run: a silently skipped item would
never be purged; the failed run is retried and then lands in the dead-letter queue.

Environment: ``ITEMS_TABLE_NAME`` (plus the runner's). DynamoDB actions: Scan, DeleteItem, PutItem.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from run_once import ScheduledRun, run_once

logger = Logger()
dynamodb = boto3.client("dynamodb")
ITEMS_TABLE_NAME = os.environ["ITEMS_TABLE_NAME"]
EXPIRY_ATTRIBUTE = "expires_at"
SUMMARY_PREFIX = "summary#"


class MalformedExpiry(ValueError):
    """An item's expiry is not a number of epoch seconds."""


def expired_ids(cutoff: int) -> list[str]:
    """Ids of the items whose ``expires_at`` is before ``cutoff``; raises on a malformed expiry."""
    expired: list[str] = []
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=ITEMS_TABLE_NAME,
        FilterExpression="attribute_exists(#expiry)",
        ProjectionExpression="id, #expiry",
        ExpressionAttributeNames={"#expiry": EXPIRY_ATTRIBUTE},
    )
    for page in pages:
        for item in page["Items"]:
            expiry = item[EXPIRY_ATTRIBUTE]
            if "N" not in expiry:
                raise MalformedExpiry(f"item {item['id']['S']!r} has {EXPIRY_ATTRIBUTE}={expiry!r}, not epoch seconds")
            if Decimal(expiry["N"]) < cutoff:
                expired.append(item["id"]["S"])
    return expired


def purge(ids: list[str], cutoff: int) -> int:
    """Delete the items still expired at ``cutoff`` (one whose expiry was extended meanwhile stays)."""
    purged = 0
    for item_id in ids:
        try:
            dynamodb.delete_item(
                TableName=ITEMS_TABLE_NAME,
                Key={"id": {"S": item_id}},
                ConditionExpression="#expiry < :cutoff",
                ExpressionAttributeNames={"#expiry": EXPIRY_ATTRIBUTE},
                ExpressionAttributeValues={":cutoff": {"N": str(cutoff)}},
            )
            purged += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            logger.info("item no longer expired; kept", extra={"item_id": item_id})
    return purged


@logger.inject_lambda_context
@run_once
def handler(run: ScheduledRun, context: Any) -> dict[str, Any]:
    cutoff = int(run.scheduled_at.timestamp())
    purged = purge(expired_ids(cutoff), cutoff)
    day = run.scheduled_at.date().isoformat()
    dynamodb.put_item(
        TableName=ITEMS_TABLE_NAME,
        Item={
            "id": {"S": f"{SUMMARY_PREFIX}{day}"},
            "purged": {"N": str(purged)},
            "scheduled_time": {"S": run.scheduled_time},
            "schedule": {"S": run.schedule_name},
        },
    )
    logger.info("purge done", extra={"purged": purged, "scheduled_time": run.scheduled_time})
    return {"purged": purged, "summary": f"{SUMMARY_PREFIX}{day}"}
