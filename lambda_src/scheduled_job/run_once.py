"""Run a scheduled job once per scheduled time, and publish a heartbeat when it succeeds.

Decorate the handler of a ``ScheduledJob`` target::

    from run_once import ScheduledRun, run_once

    @run_once
    def handler(run: ScheduledRun, context) -> dict:
        ...  # the job; run.scheduled_at is the time it stands for

EventBridge Scheduler delivers at least once, and Lambda retries a failed asynchronous run. Before
the job runs, the runner claims ``<group>/<schedule>@<scheduled time>`` in the claim table with one
conditional write; the claim succeeds when the item is new, when the earlier run recorded a failure,
or when the earlier run's lease ran out. The lease is the claiming invocation's remaining time (plus
a few seconds for clock skew): by then Lambda has stopped that invocation whatever happened to it.
Each attempt claims under an owner id of its own (the request id and a random suffix: Lambda may
reuse a request id when it retries an asynchronous event).

When the claim is held:

* ``SUCCEEDED``: the run is done; the delivery does nothing and returns ``{"status": "skipped"}``.
* ``RUNNING`` under a live lease: another attempt is running, or crashed (time-out, out of memory)
  and nothing recorded its end. The runner raises ``ClaimBusy``: Lambda retries the event later
  (about one and two minutes after), and one that finds the lease ended claims the run; when every
  retry finds it busy, the event goes to the dead-letter queue instead of being lost as a success.

After the job: ``SUCCEEDED`` (later deliveries do nothing) and one ``Heartbeat`` data point
(dimensions ``ScheduleGroup``, ``Schedule``); or ``FAILED`` with the error, and the job's exception
is raised again (also when recording the failure fails) so Lambda retries and finally sends the
event to the dead-letter queue.

Environment: ``RUN_ONCE_TABLE_NAME``, ``HEARTBEAT_NAMESPACE``, ``RUN_ONCE_RETENTION_SECONDS`` (how
long a claim is kept, default 7 days). Calls: ``dynamodb:UpdateItem`` on the table,
``cloudwatch:PutMetricData`` in the namespace.

The clients are botocore's (boto3's session layer adds cold-start time for nothing a low-level
client uses), made at init from ``session``. A job may use them (one client per service and
process) as ``run_once.dynamodb`` and ``run_once.cloudwatch``, looked up through the module at each
call, and make clients of other services from ``session``, so each service model loads once. Under
SnapStart each restored environment gets new clients and a new ``random`` seed (an after-restore
hook), as a job's module with clients of its own should too.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

RUNNING, SUCCEEDED, FAILED = "RUNNING", "SUCCEEDED", "FAILED"
HEARTBEAT_METRIC = "Heartbeat"
#: Added to a lease for clocks that disagree by a few seconds.
LEASE_MARGIN_SECONDS = 5
_DEFAULT_RETENTION_SECONDS = 7 * 86400
_ERROR_LIMIT = 1000  # characters of an error kept on a failed claim

logger = logging.getLogger("run_once")
logger.setLevel(logging.INFO)
#: The botocore session of the runner's clients; a job's module may make its clients from it.
session = botocore.session.get_session()
dynamodb = session.create_client("dynamodb")
cloudwatch = session.create_client("cloudwatch")


def _after_restore() -> None:
    """SnapStart: each environment restored from the snapshot gets its own clients (new connections,
    credentials resolved anew) and random seed, not the copies frozen in the snapshot. The service
    models stay loaded: the new session shares the old one's loader."""
    global session, dynamodb, cloudwatch
    restored = botocore.session.get_session()
    restored.register_component("data_loader", session.get_component("data_loader"))
    # A job's clients made from ``session`` after the restore resolve their credentials anew too.
    session = restored
    dynamodb = restored.create_client("dynamodb")
    cloudwatch = restored.create_client("cloudwatch")
    random.seed()


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # set by Lambda; the hooks' library is there
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda's runtime only

    register_after_restore(_after_restore)


class MalformedScheduledEvent(ValueError):
    """The event is not the payload a ``ScheduledJob`` schedule sends."""


class ClaimBusy(RuntimeError):
    """Another attempt holds the run's claim under a live lease; raised so that Lambda retries the event later."""


@dataclass(frozen=True)
class ScheduledRun:
    """One scheduled run, as the schedule's payload describes it."""

    schedule_group: str
    schedule_name: str
    scheduled_time: str  # ISO 8601, UTC, as Scheduler gives it: "2026-11-23T02:30:00Z"
    scheduled_at: datetime
    execution_id: str = ""
    attempt_number: int = 1
    job: dict[str, Any] = field(default_factory=dict)

    @property
    def claim_id(self) -> str:
        return f"{self.schedule_group}/{self.schedule_name}@{self.scheduled_time}"

    @classmethod
    def from_event(cls, event: Any) -> ScheduledRun:
        if not isinstance(event, dict):
            raise MalformedScheduledEvent("the event must be a JSON object")
        arn, scheduled_time = event.get("schedule_arn"), event.get("scheduled_time")
        parts = arn.split(":", 5) if isinstance(arn, str) else []
        path = parts[5].split("/") if len(parts) == 6 else []
        if len(path) != 3 or path[0] != "schedule" or not all(path[1:]):
            raise MalformedScheduledEvent(f"schedule_arn must be arn:...:schedule/GROUP/NAME, got {arn!r}")
        try:
            scheduled_at = datetime.fromisoformat(str(scheduled_time).replace("Z", "+00:00"))
        except ValueError:
            raise MalformedScheduledEvent(f"scheduled_time must be an ISO 8601 time, got {scheduled_time!r}") from None
        if scheduled_at.utcoffset() is None:
            raise MalformedScheduledEvent(f"scheduled_time must carry its offset (Z), got {scheduled_time!r}")
        job = event.get("job") or {}
        if not isinstance(job, dict):
            raise MalformedScheduledEvent("job must be a JSON object")
        try:
            attempt = int(event.get("attempt_number") or 1)
        except (TypeError, ValueError):
            attempt = 1
        return cls(
            schedule_group=path[1],
            schedule_name=path[2],
            scheduled_time=str(scheduled_time),
            scheduled_at=scheduled_at.astimezone(UTC),
            execution_id=str(event.get("execution_id") or ""),
            attempt_number=attempt,
            job=job,
        )


def now() -> float:
    """Epoch seconds (a function of its own so tests can move the clock)."""
    return time.time()


def claim(run: ScheduledRun, owner: str, lease_seconds: float) -> dict[str, Any] | None:
    """Claim ``run`` for ``owner``; None when claimed, else the claim item that holds it."""
    started = now()
    retention = int(os.environ.get("RUN_ONCE_RETENTION_SECONDS", _DEFAULT_RETENTION_SECONDS))
    try:
        dynamodb.update_item(
            TableName=os.environ["RUN_ONCE_TABLE_NAME"],
            Key={"id": {"S": run.claim_id}},
            UpdateExpression=(
                "SET #status = :running, #owner = :owner, lease_until = :lease, claimed_at = :now, "
                "expires_at = :expires, schedule_name = :name, scheduled_time = :time REMOVE #error ADD attempts :one"
            ),
            ConditionExpression=(
                "attribute_not_exists(id) OR #status = :failed OR (#status = :running AND lease_until < :now)"
            ),
            ExpressionAttributeNames={"#status": "status", "#owner": "owner", "#error": "error"},
            ExpressionAttributeValues={
                ":running": {"S": RUNNING},
                ":failed": {"S": FAILED},
                ":owner": {"S": owner},
                ":lease": {"N": str(math.ceil(started + lease_seconds + LEASE_MARGIN_SECONDS))},
                ":now": {"N": str(math.floor(started))},
                ":expires": {"N": str(math.ceil(started + retention))},
                ":name": {"S": run.schedule_name},
                ":time": {"S": run.scheduled_time},
                ":one": {"N": "1"},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return error.response.get("Item") or {}
    return None


def finish(run: ScheduledRun, owner: str, status: str, error: str = "") -> bool:
    """Record the outcome of ``owner``'s claim; False if the claim was no longer its own."""
    values = {":status": {"S": status}, ":owner": {"S": owner}, ":now": {"N": str(math.floor(now()))}}
    update = "SET #status = :status, finished_at = :now"
    if error:
        update += ", #error = :error"
        values[":error"] = {"S": error[:_ERROR_LIMIT]}
    try:
        dynamodb.update_item(
            TableName=os.environ["RUN_ONCE_TABLE_NAME"],
            Key={"id": {"S": run.claim_id}},
            UpdateExpression=update,
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#status": "status", "#owner": "owner", **({"#error": "error"} if error else {})},
            ExpressionAttributeValues=values,
        )
    except ClientError as failure:
        if failure.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False
    return True


def publish_heartbeat(run: ScheduledRun) -> None:
    """One ``Heartbeat`` data point for the run's schedule; a failure is logged, not raised (the run did
    its work, and a heartbeat that keeps failing shows as the missing-heartbeat alarm)."""
    try:
        cloudwatch.put_metric_data(
            Namespace=os.environ["HEARTBEAT_NAMESPACE"],
            MetricData=[
                {
                    "MetricName": HEARTBEAT_METRIC,
                    "Dimensions": [
                        {"Name": "ScheduleGroup", "Value": run.schedule_group},
                        {"Name": "Schedule", "Value": run.schedule_name},
                    ],
                    "Value": 1,
                    "Unit": "Count",
                }
            ],
        )
    except (ClientError, BotoCoreError):
        logger.exception("heartbeat not published", extra={"claim": run.claim_id})


def run_once(job: Callable[[ScheduledRun, Any], Any]) -> Callable[[Any, Any], dict[str, Any]]:
    """Make ``job(run, context)`` a Lambda handler that runs once per scheduled time (see the module doc)."""

    @functools.wraps(job)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        run = ScheduledRun.from_event(event)
        owner = f"{context.aws_request_id}/{uuid.uuid4().hex}"
        lease = context.get_remaining_time_in_millis() / 1000
        holder = claim(run, owner, lease)
        if holder is not None:
            status = holder.get("status", {}).get("S", "unknown")
            if status == SUCCEEDED:
                logger.info("run skipped: already succeeded", extra={"claim": run.claim_id})
                return {"status": "skipped", "claim": run.claim_id, "claim_status": status}
            lease_until = holder.get("lease_until", {}).get("N", "?")
            logger.warning(
                "claim busy: retry later",
                extra={"claim": run.claim_id, "claim_status": status, "lease_until": lease_until},
            )
            raise ClaimBusy(f"{run.claim_id} is {status} under a lease until {lease_until} (epoch seconds)")
        logger.info("run claimed", extra={"claim": run.claim_id, "attempt_number": run.attempt_number})
        try:
            result = job(run, context)
        except Exception as error:
            try:
                finish(run, owner, FAILED, f"{type(error).__name__}: {error}")
            except Exception:  # the job's own error is the one to raise; the lease frees the claim anyway
                logger.exception("could not record the failure", extra={"claim": run.claim_id})
            logger.exception("run failed", extra={"claim": run.claim_id})
            raise error
        if not finish(run, owner, SUCCEEDED):
            # Only when this run outlived its lease, which Lambda's time-out prevents; say so loudly.
            logger.error("run finished after its claim passed to another run", extra={"claim": run.claim_id})
        publish_heartbeat(run)
        return {"status": "succeeded", "claim": run.claim_id, "result": result}

    return handler
