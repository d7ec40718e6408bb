"""Publish every change to a DynamoDB table's items to an SNS topic, from the table's stream.

The function is attached to the table's stream (view type ``NEW_AND_OLD_IMAGES``) by an event
source mapping with ``ReportBatchItemFailures``, bisect-on-error, bounded retries and an SQS
on-failure destination, so a change becomes an event without a second write in the
application. Each stream record becomes one SNS message:

    {"event_id": <the record's eventID>, "event_type": "item.created" | "item.updated" | "item.deleted",
     "keys": {...}, "new": {...} | null, "old": {...} | null,
     "sequence_number": "...", "approximate_creation_time": "2026-11-22T21:48:00.000Z" | null}

with the message attribute ``event_type`` (String) for subscription filter policies. Item
images are plain JSON: numbers are integers or floats, sets are sorted lists, binary values
are base64 text. The body is ASCII (non-ASCII characters are escaped), so every byte of it is
deliverable to any subscriber, raw SQS delivery included. When a message would exceed SNS's
256 KiB (body plus attribute), it is published without the images, ``"new"`` and ``"old"``
null and ``"truncated": true``: the event is never lost, and a subscriber that needs the item
reads it from the table by its keys.

A stream record can be delivered more than once (retries, and records after a failed one in
the same batch are published again when Lambda retries from the failed record), so
subscribers must use ``event_id`` as their idempotency key; it is always present. A record
that is not a change this function understands (unknown ``eventName``, no ``Keys``, no
``eventID``, invalid DynamoDB JSON) fails alone: its SequenceNumber is reported in
``batchItemFailures`` and it reaches the on-failure destination after the retries.

On a FIFO topic (``TOPIC_FIFO=true``) each message also carries a ``MessageGroupId`` derived
from the item's keys (the SHA-256 of their canonical JSON), so the changes of one item reach
every FIFO subscriber in stream order while different items flow in parallel, and a
``MessageDeduplicationId`` equal to the record's ``eventID``, so a record published again within
SNS's five-minute deduplication window is delivered once.

Environment:
    TOPIC_ARN                                      the topic to publish to (required).
    TOPIC_FIFO                                     ``true`` when the topic is FIFO; default ``false``.
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL  optional, for the Logger.

IAM actions this code calls (checked by recording every call in the tests):
    sns:Publish on the topic (TOPIC_ARN)
    plus, when the topic is encrypted with a customer managed KMS key, kms:GenerateDataKey
    and kms:Decrypt on that key.
(Reading the stream and sending to the on-failure destination are done by the event source
mapping with the function's role: dynamodb:DescribeStream, dynamodb:GetRecords,
dynamodb:GetShardIterator, dynamodb:ListStreams on the stream, and sqs:SendMessage on the
destination queue.)
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import json
import os
import random
from datetime import UTC, datetime
from typing import Any

import botocore.session
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

TOPIC_ARN = os.environ["TOPIC_ARN"]
TOPIC_FIFO = os.environ.get("TOPIC_FIFO", "false").lower() == "true"
MAX_MESSAGE_BYTES = 256 * 1024  # SNS counts the body and each attribute's name, type and value
EVENT_TYPE_ATTRIBUTE = "event_type"
EVENT_TYPES = {"INSERT": "item.created", "MODIFY": "item.updated", "REMOVE": "item.deleted"}

logger = Logger()
# One low-level client per execution environment, made during init. botocore's, and the batch loop
# and DynamoDB JSON reader below are this module's own: boto3's session layer and Powertools' batch
# utility cost cold-start time (tens of milliseconds of imports) for nothing this function uses.
_session = botocore.session.get_session()
sns = _session.create_client("sns")


def _after_restore() -> None:
    """SnapStart: each environment restored from the snapshot gets its own client (new connections,
    credentials resolved anew) and random seed, not the copies frozen in the snapshot. The service
    models stay loaded: the new session shares the old one's loader."""
    global sns
    session = botocore.session.get_session()
    session.register_component("data_loader", _session.get_component("data_loader"))
    sns = session.create_client("sns")
    random.seed()


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # set by Lambda; the hooks' library is there
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda's runtime only

    register_after_restore(_after_restore)
# DynamoDB's numbers: 38 significant digits, exponents -130..125; anything else is not a stored value.
_NUMBERS = decimal.Context(
    prec=38,
    Emin=-128,
    Emax=126,
    traps=[decimal.Clamped, decimal.Overflow, decimal.Inexact, decimal.Rounded, decimal.Underflow],
)


class MalformedRecord(ValueError):
    """The stream record is not a change this function can publish; it fails alone."""


def _number(text: Any) -> int | float:
    if not isinstance(text, str):
        raise TypeError("a number must be given as a string")
    number = _NUMBERS.create_decimal(text)
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a number")
    return int(number) if number == number.to_integral_value() else float(number)


def _binary(value: Any) -> str:
    """Lambda's stream event carries binary values as base64 text: checked, and kept as base64."""
    if isinstance(value, str):
        value = base64.b64decode(value, validate=True)
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError("a binary value must be base64 text")
    return base64.b64encode(value).decode("ascii")


def _members(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("a set or list must be a JSON array")
    return value


def plain(value: Any) -> Any:
    """One DynamoDB JSON value (``{"<type>": ...}``) as plain JSON data; sets become sorted lists."""
    if not isinstance(value, dict) or len(value) != 1:
        raise TypeError("a value must be a map of exactly one DynamoDB type")
    [(tag, raw)] = value.items()
    if tag in ("S", "BOOL"):
        return raw
    if tag == "N":
        return _number(raw)
    if tag == "B":
        return _binary(raw)
    if tag == "NULL":
        return None
    if tag == "M":
        if not isinstance(raw, dict):
            raise TypeError("a map must be a JSON object")
        return {name: plain(member) for name, member in raw.items()}
    if tag == "L":
        return [plain(member) for member in _members(raw)]
    if tag == "SS":
        return sorted(set(_members(raw)))
    if tag == "NS":
        return sorted({_number(member) for member in _members(raw)})
    if tag == "BS":
        return sorted({_binary(member) for member in _members(raw)})
    raise TypeError(f"DynamoDB type {tag!r} is not supported")


def _image(stream_record: dict[str, Any], field: str, required: bool = False) -> dict[str, Any] | None:
    """Deserialize ``Keys``, ``NewImage`` or ``OldImage`` into plain JSON data."""
    raw = stream_record.get(field)
    if raw is None and not required:
        return None
    if not isinstance(raw, dict) or (required and not raw):
        raise MalformedRecord(f"dynamodb.{field} must be a non-empty map of DynamoDB JSON")
    try:
        return {name: plain(value) for name, value in raw.items()}
    except (TypeError, ValueError, ArithmeticError, binascii.Error) as error:
        raise MalformedRecord(f"dynamodb.{field} is not valid DynamoDB JSON: {error}") from None


def _creation_time(stream_record: dict[str, Any]) -> str | None:
    """ApproximateCreationDateTime (epoch seconds) as ISO-8601 UTC, to the millisecond."""
    value = stream_record.get("ApproximateCreationDateTime")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedRecord("dynamodb.ApproximateCreationDateTime must be epoch seconds")
    try:
        moment = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedRecord("dynamodb.ApproximateCreationDateTime is out of range") from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_event(record: dict[str, Any]) -> dict[str, Any]:
    """The event published for one stream record, as plain JSON data."""
    event_id = record.get("eventID")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedRecord("the record has no eventID")
    event_name = record.get("eventName")
    event_type = EVENT_TYPES.get(event_name) if isinstance(event_name, str) else None
    if event_type is None:
        raise MalformedRecord(f"unsupported eventName {record.get('eventName')!r}")
    stream_record = record.get("dynamodb")
    if not isinstance(stream_record, dict):
        raise MalformedRecord("the record has no dynamodb section")
    return {
        "event_id": event_id,
        "event_type": event_type,
        "keys": _image(stream_record, "Keys", required=True),
        "new": _image(stream_record, "NewImage"),
        "old": _image(stream_record, "OldImage"),
        "sequence_number": stream_record.get("SequenceNumber"),
        "approximate_creation_time": _creation_time(stream_record),
    }


def _encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), allow_nan=False)


def encode_message(event: dict[str, Any]) -> tuple[str, bool]:
    """The message body, and whether the images had to be left out to fit SNS's limit."""
    attribute_bytes = len(EVENT_TYPE_ATTRIBUTE) + len("String") + len(event["event_type"].encode())
    budget = MAX_MESSAGE_BYTES - attribute_bytes
    body = _encode(event)
    if len(body.encode()) <= budget:
        return body, False
    # Keys are at most a few KiB (DynamoDB caps key attributes), so this always fits.
    return _encode({**event, "new": None, "old": None, "truncated": True}), True


def message_group_id(keys: dict[str, Any]) -> str:
    """One group per item: a digest of its keys (within SNS's 128 characters, whatever the keys hold)."""
    return hashlib.sha256(json.dumps(keys, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def fifo_parameters(event: dict[str, Any]) -> dict[str, str]:
    """What a FIFO topic requires: the item's group, and the record's id against duplicates."""
    if not TOPIC_FIFO:
        return {}
    return {"MessageGroupId": message_group_id(event["keys"]), "MessageDeduplicationId": event["event_id"]}


def record_handler(raw: dict[str, Any]) -> None:
    stream_record = raw.get("dynamodb")
    sequence_number = stream_record.get("SequenceNumber") if isinstance(stream_record, dict) else None
    log_fields = {"event_id": raw.get("eventID"), "sequence_number": sequence_number}
    try:
        event = build_event(raw)
    except MalformedRecord as error:
        logger.warning("malformed stream record", extra={**log_fields, "reason": str(error)})
        raise
    log_fields["event_type"] = event["event_type"]
    body, truncated = encode_message(event)
    try:
        response = sns.publish(
            TopicArn=TOPIC_ARN,
            Message=body,
            MessageAttributes={EVENT_TYPE_ATTRIBUTE: {"DataType": "String", "StringValue": event["event_type"]}},
            **fifo_parameters(event),
        )
    except Exception:
        logger.exception("event not published", extra=log_fields)
        raise
    logger.info(
        "event published",
        extra={**log_fields, "truncated": truncated, "sns_message_id": response.get("MessageId")},
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Publish each record; report the failed ones by SequenceNumber (Lambda retries from the first)."""
    failures = []
    for record in event.get("Records") or []:
        try:
            record_handler(record)
        except Exception:
            stream_record = record.get("dynamodb") if isinstance(record, dict) else None
            sequence_number = stream_record.get("SequenceNumber") if isinstance(stream_record, dict) else None
            failures.append({"itemIdentifier": sequence_number})
    return {"batchItemFailures": failures}
