"""Turn each uploaded object into web renditions, once per object version, and record the outcome.

The buffer queue receives S3's object-created notifications; each SQS record is one notification
(``{"Records": [...]}``) or S3's ``s3:TestEvent`` (sent once when notifications are configured; a
no-op). For each object: skip it when the table already holds a final outcome for that version
(a redelivery writes nothing); reject it, recorded with its reason and never retried, when it is
larger than ``MAX_OBJECT_BYTES`` (presigned POST's size condition is enforced by S3, checked again
here), not an accepted image, more than ``MAX_PIXELS`` pixels, or corrupt; else write one
rendition per width and format under ``OUTPUT_PREFIX`` and record ``processed``. A message that
is not an S3 notification, or any unexpected error (S3 or DynamoDB failing), fails that record
alone (partial batch response): it returns to the queue and, after ``maxReceiveCount``, reaches
the DLQ. So every object ends ``processed``, ``rejected`` or in the DLQ. When less than
``STOP_BEFORE_TIMEOUT_MS`` of the invocation remains, the records not yet started fail (they return to
the queue) rather than be cut off by the timeout along with the whole batch.

Output keys hold the object's version (or ETag on an unversioned bucket), so they never change
content and the CDN may cache them for a year: ``{OUTPUT_PREFIX}{key}/{version}/{width}.{ext}``.

Environment:
    OUTPUT_BUCKET      where renditions go.
    TABLE_NAME         outcome per object version, partition key ``id`` (string).
    WIDTHS             comma-separated widths in pixels; default ``320,640,1280``.
    FORMATS            comma-separated output formats (``webp``, ``jpeg``); default ``webp,jpeg``.
    OUTPUT_PREFIX      prefix of rendition keys; default ``renditions/``.
    MAX_OBJECT_BYTES   larger objects are rejected unread; default 26214400 (25 MiB).
    MAX_PIXELS         larger images are rejected before decoding; default 50000000.
    STOP_BEFORE_TIMEOUT_MS  the time one object may need; default 10000.
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE: Logger and Metrics (``ProcessedObjects``,
                       ``RejectedObjects``).

AWS calls: s3:GetObject (GetObjectVersion with a version id) on the upload bucket, s3:PutObject on
the output bucket, dynamodb:GetItem and dynamodb:PutItem on the table.

Cold start: what only an object to process needs is made when the first one comes (at init under
SnapStart, whose snapshot makes init free at restore): Pillow, which ``imaging`` imports (it says
why), and the S3 client, whose service model is the largest this function loads. A cold start
that processes nothing (S3's test event, a redelivery of an object already done, records left
for later) pays for neither; the first object pays both. The batch loop is written here rather
than taken from Powertools' batch utility, and the clients are botocore's rather than boto3's:
the utility and boto3's session layer cost cold-start time for nothing this function uses.
"""

from __future__ import annotations

import json
import os
import random
import time
import warnings
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import botocore.session
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.client import BaseClient
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # the type checker names the module by its path; Lambda finds it beside this file
    from lambda_src.image_processor.imaging import OUTPUT_FORMATS, Rejected, process
else:
    from imaging import OUTPUT_FORMATS, Rejected, process

OUTPUT_BUCKET = os.environ["OUTPUT_BUCKET"]
TABLE_NAME = os.environ["TABLE_NAME"]
WIDTHS = [int(width) for width in os.environ.get("WIDTHS", "320,640,1280").split(",")]
FORMATS = [name.strip() for name in os.environ.get("FORMATS", "webp,jpeg").split(",")]
OUTPUT_PREFIX = os.environ.get("OUTPUT_PREFIX", "renditions/")
MAX_OBJECT_BYTES = int(os.environ.get("MAX_OBJECT_BYTES", str(25 * 1024 * 1024)))
MAX_PIXELS = int(os.environ.get("MAX_PIXELS", "50000000"))
STOP_BEFORE_TIMEOUT_MS = int(os.environ.get("STOP_BEFORE_TIMEOUT_MS", "10000"))
#: Renditions never change under their key (it holds the source version), so caches may keep them.
CACHE_CONTROL = "public, max-age=31536000, immutable"
FINAL = ("processed", "rejected")

unknown = sorted(set(FORMATS) - set(OUTPUT_FORMATS))
if unknown:
    raise ValueError(f"FORMATS holds unknown formats {unknown}; known: {sorted(OUTPUT_FORMATS)}")

logger = Logger()
metrics = Metrics()
# A batch of S3 test events or redeliveries records no outcome: normal here, not worth a warning per batch.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# One low-level client per service and execution environment, from one session: DynamoDB's during
# init, S3's for the first object to process (see the module docstring).
SNAP_START = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"  # set by Lambda
_session = botocore.session.get_session()
dynamodb = _session.create_client("dynamodb")
s3: BaseClient | None = _session.create_client("s3") if SNAP_START else None


def s3_client() -> BaseClient:
    """The S3 client, made on first use."""
    global s3
    if s3 is None:
        s3 = _session.create_client("s3")
    return s3


def _after_restore() -> None:
    """SnapStart: each environment restored from the snapshot gets its own clients (new connections,
    credentials resolved anew) and random seed, not the copies frozen in the snapshot. The service
    models stay loaded: the new session shares the old one's loader."""
    global _session, s3, dynamodb
    session = botocore.session.get_session()
    session.register_component("data_loader", _session.get_component("data_loader"))
    _session = session
    s3 = session.create_client("s3")
    dynamodb = session.create_client("dynamodb")
    random.seed()


if SNAP_START:  # the hooks' library is there
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda's runtime only

    register_after_restore(_after_restore)


class NotANotification(ValueError):
    """The message is not an S3 event notification: it fails, and ends in the DLQ."""


class OutOfTime(Exception):
    """Too little of the invocation is left to start this record: it fails and is delivered again."""


def notifications(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The S3 records of one SQS message ([] for S3's test event)."""
    try:
        body = json.loads(record["body"])
    except json.JSONDecodeError as error:
        raise NotANotification(f"body is not JSON: {error.msg}") from None
    if isinstance(body, dict) and body.get("Event") == "s3:TestEvent":
        return []
    if not isinstance(body, dict) or not isinstance(body.get("Records"), list):
        raise NotANotification("body is not an S3 event notification")
    found = []
    for s3_record in body["Records"]:
        try:
            if not str(s3_record["eventName"]).startswith("ObjectCreated:"):
                continue
            found.append(s3_record["s3"])
        except (KeyError, TypeError):
            raise NotANotification("an S3 record lacks eventName or s3") from None
    return found


def object_id(bucket: str, key: str, version: str) -> str:
    return f"{bucket}/{key}@{version}"


def handle_object(notification: dict[str, Any]) -> None:
    bucket = notification["bucket"]["name"]
    source = notification["object"]
    key = unquote_plus(source["key"])  # S3 URL-encodes keys in notifications
    version_id = source.get("versionId") or None
    etag = str(source.get("eTag", "")).strip('"')
    version = version_id or etag
    item_id = object_id(bucket, key, version)
    existing = dynamodb.get_item(TableName=TABLE_NAME, Key={"id": {"S": item_id}}, ConsistentRead=True).get("Item")
    if existing and existing.get("status", {}).get("S") in FINAL:
        logger.info("already done", extra={"object_id": item_id, "status": existing["status"]["S"]})
        return
    started = time.perf_counter()
    item = {
        "id": {"S": item_id},
        "bucket": {"S": bucket},
        "key": {"S": key},
        "etag": {"S": etag},
        "version_id": {"S": version_id or ""},
    }
    try:
        outcome = _process(bucket, key, version_id, version, item)
    except Rejected as rejected:
        outcome = {"status": {"S": "rejected"}, "reason": {"S": str(rejected)}}
    item.update(outcome)
    item["timings_ms"] = {"M": {**item.get("timings_ms", {}).get("M", {}), "total": _ms(started)}}
    item["finished_at"] = {"S": datetime.now(UTC).isoformat()}
    status = item["status"]["S"]
    try:
        dynamodb.put_item(
            TableName=TABLE_NAME,
            Item=item,
            ConditionExpression="attribute_not_exists(id) OR NOT #status IN (:processed, :rejected)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":processed": {"S": "processed"}, ":rejected": {"S": "rejected"}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        logger.info("a concurrent delivery recorded it first", extra={"object_id": item_id})
        return
    metrics.add_metric(
        name="ProcessedObjects" if status == "processed" else "RejectedObjects", unit=MetricUnit.Count, value=1
    )
    logger.info("object " + status, extra={"object_id": item_id, "reason": item.get("reason", {}).get("S")})


def _process(bucket: str, key: str, version_id: str | None, version: str, item: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    request = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    try:
        response = s3_client().get_object(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion"):
            raise Rejected("the object was deleted before it was processed") from None
        raise
    size = int(response["ContentLength"])
    item["size"] = {"N": str(size)}
    if size > MAX_OBJECT_BYTES:
        response["Body"].close()
        raise Rejected(f"{size} bytes is more than the {MAX_OBJECT_BYTES} allowed")
    data = response["Body"].read()
    downloaded = _ms(started)
    started = time.perf_counter()
    result = process(data, widths=WIDTHS, formats=FORMATS, max_pixels=MAX_PIXELS)
    processed = _ms(started)
    started = time.perf_counter()
    outputs = []
    for rendition in result.renditions:
        output_key = f"{OUTPUT_PREFIX}{key}/{version}/{rendition.width}.{rendition.extension}"
        s3_client().put_object(
            Bucket=OUTPUT_BUCKET,
            Key=output_key,
            Body=rendition.body,
            ContentType=rendition.content_type,
            CacheControl=CACHE_CONTROL,
        )
        outputs.append(
            {
                "M": {
                    "key": {"S": output_key},
                    "width": {"N": str(rendition.width)},
                    "height": {"N": str(rendition.height)},
                    "format": {"S": rendition.format},
                    "bytes": {"N": str(len(rendition.body))},
                }
            }
        )
    return {
        "status": {"S": "processed"},
        "format": {"S": result.source_format},
        "width": {"N": str(result.width)},
        "height": {"N": str(result.height)},
        "outputs": {"L": outputs},
        "timings_ms": {"M": {"download": downloaded, "process": processed, "upload": _ms(started)}},
    }


def _ms(started: float) -> dict[str, str]:
    return {"N": str(round((time.perf_counter() - started) * 1000))}


def record_handler(record: dict[str, Any], lambda_context: LambdaContext) -> None:
    message_id = record["messageId"]
    if lambda_context.get_remaining_time_in_millis() < STOP_BEFORE_TIMEOUT_MS:
        logger.info("left for a later delivery: the invocation is nearly out of time", extra={"message_id": message_id})
        raise OutOfTime(f"less than {STOP_BEFORE_TIMEOUT_MS} ms left")
    try:
        found = notifications(record)
    except NotANotification as error:
        logger.warning("not an S3 notification", extra={"message_id": message_id, "reason": str(error)})
        raise
    for notification in found:
        handle_object(notification)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle each SQS record; the ones that failed are reported back (partial batch response)."""
    records = event.get("Records")
    if not records or not isinstance(records, list):
        raise ValueError("not an SQS batch: the event holds no Records")
    failures = []
    for record in records:
        try:
            record_handler(record, context)
        except (OutOfTime, NotANotification):  # logged where they were raised
            failures.append({"itemIdentifier": record["messageId"]})
        except Exception:  # AWS errors, throttling, a defect: logged here, retried, then the DLQ
            logger.exception("record failed; it will be delivered again", extra={"message_id": record["messageId"]})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
