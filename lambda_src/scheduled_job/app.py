"""The demo's nightly job: purge the items that expired before the scheduled time, write a summary row.

DynamoDB's TTL deletes expired items eventually (within days); this job deletes them by the
scheduled time, so reports and scans never see them. It runs through ``run_once``: a duplicate
delivery does nothing, and a retried run purges what an earlier attempt left (the cut-off is the
scheduled time, not the clock). Each delete and the count on the day's summary row are one
transaction, so the row counts every item purged that day, by whichever attempt purged it.

An item whose ``expires_at`` is not epoch seconds fails the run: a silently skipped item would
never be purged; the failed run is retried and then lands in the dead-letter queue.

Environment: ``ITEMS_TABLE_NAME`` (plus the runner's). DynamoDB actions: Scan, DeleteItem, UpdateItem
(TransactWriteItems is authorized as the delete and the update it holds).
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

# The job uses the runner's DynamoDB client (one per process), looked up through the module at each call:
# after a SnapStart restore the runner makes a new one.
if TYPE_CHECKING:  # the type checker names the module by its path; Lambda finds it beside this file
    from lambda_src.scheduled_job import run_once as runner
    from lambda_src.scheduled_job.run_once import ScheduledRun, run_once
else:
    import run_once as runner
    from run_once import ScheduledRun, run_once

logger = Logger()
ITEMS_TABLE_NAME = os.environ["ITEMS_TABLE_NAME"]
EXPIRY_ATTRIBUTE = "expires_at"
SUMMARY_PREFIX = "summary#"


class MalformedExpiry(ValueError):
    """An item's expiry is not a number of epoch seconds."""


def expired_ids(cutoff: int) -> list[str]:
    """Ids of the items whose ``expires_at`` is before ``cutoff``; raises on a malformed expiry."""
    expired: list[str] = []
    pages = runner.dynamodb.get_paginator("scan").paginate(
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


def summary_key(run: ScheduledRun) -> dict[str, Any]:
    """The key of the summary row of the run's day (UTC)."""
    return {"id": {"S": f"{SUMMARY_PREFIX}{run.scheduled_at.date().isoformat()}"}}


def purge(run: ScheduledRun, ids: list[str], cutoff: int) -> int:
    """Delete the items still expired at ``cutoff`` (one whose expiry was extended meanwhile stays).

    Each delete adds one to the day's summary row in the same transaction: an attempt that fails
    halfway leaves a count that matches what it deleted, and its retry adds the rest.
    """
    purged = 0
    for item_id in ids:
        try:
            runner.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": ITEMS_TABLE_NAME,
                            "Key": {"id": {"S": item_id}},
                            "ConditionExpression": "#expiry < :cutoff",
                            "ExpressionAttributeNames": {"#expiry": EXPIRY_ATTRIBUTE},
                            "ExpressionAttributeValues": {":cutoff": {"N": str(cutoff)}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": ITEMS_TABLE_NAME,
                            "Key": summary_key(run),
                            "UpdateExpression": "ADD purged :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
            purged += 1
        except runner.dynamodb.exceptions.TransactionCanceledException as cancelled:
            reasons = cancelled.response.get("CancellationReasons") or [{}]
            if reasons[0].get("Code") != "ConditionalCheckFailed":
                raise
            logger.info("item no longer expired or already purged; kept", extra={"item_id": item_id})
    return purged


@logger.inject_lambda_context
@run_once
def handler(run: ScheduledRun, context: LambdaContext) -> dict[str, Any]:
    cutoff = int(run.scheduled_at.timestamp())
    purged = purge(run, expired_ids(cutoff), cutoff)
    # The row exists on a day nothing expired too; ADD 0 keeps the count earlier attempts made.
    summary = runner.dynamodb.update_item(
        TableName=ITEMS_TABLE_NAME,
        Key=summary_key(run),
        UpdateExpression="SET scheduled_time = :time, #schedule = :schedule ADD purged :zero",
        ExpressionAttributeNames={"#schedule": "schedule"},
        ExpressionAttributeValues={
            ":time": {"S": run.scheduled_time},
            ":schedule": {"S": run.schedule_name},
            ":zero": {"N": "0"},
        },
        ReturnValues="ALL_NEW",
    )
    total = int(summary["Attributes"]["purged"]["N"])
    logger.info("purge done", extra={"purged": purged, "purged_today": total, "scheduled_time": run.scheduled_time})
    return {"purged": purged, "purged_today": total, "summary": summary_key(run)["id"]["S"]}
