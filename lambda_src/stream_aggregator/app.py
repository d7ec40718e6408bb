"""Count (and sum) records per key per tumbling window; write each closed window once.

The event source mapping runs with a tumbling window: Lambda hands each invocation of a window the
``state`` the previous one returned, and calls once more with ``isFinalInvokeForWindow`` when the
window closes. The state holds, per key, the count and sum of the window's records so far, and the
first and last sequence numbers it covers (one shard: Lambda keeps a state per shard).

When the window closes, each key is written with ONE conditional ``UpdateItem`` on the aggregate
table (partition key ``key``, sort key ``window_start``)::

    ADD #count :count, #sum :sum  SET #applied = :last, window_end = :end
    IF attribute_not_exists(#applied) OR #applied < :first

``#applied`` is ``applied#<shard id>``: the last sequence number of that shard already added to
the item. A retried final invocation, or a batch replayed from the stream, carries a range that
starts at or below it: the condition fails and nothing is added twice (the failure is the
expected answer, not an error). Records of one window in several shards (keys spread over
shards), or a window Lambda ended early (state over 1 MB), add up in the same item, each range
once. A window Lambda ended early says so (``isWindowTerminatedEarly``): it is written like any
other and logged; the rest of the window follows with a fresh state and adds to the same items.

Closing a window writes its keys in parallel (``WRITERS`` threads, the one client). Before the
invocation's time runs out it stops and fails the invocation: Lambda retries the final
invocation with the same state, the keys already written are refused by their condition (one
cheap request each) and the rest are written.

A record that cannot be read (not JSON, no key, a non-numeric value, a number DynamoDB cannot
store: more than 38 significant digits, magnitude outside 1E-130..9.99E+125, or one that would
make its key's sum inexact) is reported as the batch's first failure, so the records before it
keep their place in the state; when it is the first record of its batch the invocation fails
instead, so that bisect-on-error isolates it and the mapping, after its retries, describes it to
the on-failure destination and moves on: one poison record does not block its shard.

DynamoDB stream records: INSERT is counted (an item created); MODIFY and REMOVE (TTL deletions
included), which have no new item to count, are skipped.

Environment:
    TABLE_NAME    the aggregate table.
    KEY_FIELD     the record field to group by (Kinesis: a top-level field of the JSON data;
                  DynamoDB: an attribute of the new image). Default ``key``.
    VALUE_FIELD   optional numeric field to sum as well as count.
    WRITERS       parallel writes when a window closes. Default 8.
    TIME_MARGIN_MS  stop writing this long before the invocation times out. Default 3000.
    POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL  optional, for the Logger.

DynamoDB actions: dynamodb:UpdateItem on the aggregate table, nothing else.
"""

from __future__ import annotations

import base64
import json
import os
import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Clamped, Context, Decimal, Inexact, InvalidOperation, Overflow, Rounded, Underflow
from typing import Any

import botocore.session
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["TABLE_NAME"]
KEY_FIELD = os.environ.get("KEY_FIELD") or "key"
VALUE_FIELD = os.environ.get("VALUE_FIELD") or None
#: Longest key kept (DynamoDB allows 2048 bytes in a partition key; keys are meant to be short).
MAX_KEY_LENGTH = 256
WRITERS = max(1, int(os.environ.get("WRITERS") or 8))
TIME_MARGIN_MS = int(os.environ.get("TIME_MARGIN_MS") or 3000)
#: Sequence numbers are compared as text, so they are padded to one width: the longest a Kinesis or
#: DynamoDB stream sequence number may be (their APIs allow 129 digits).
_SEQUENCE_WIDTH = 129
#: What a DynamoDB number can be: 38 significant digits, magnitude 1E-130..9.99...E+125. Sums are
#: computed in it with every loss of precision trapped, so none is rounded silently.
DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])
_SMALLEST, _LARGEST = Decimal("1E-130"), Decimal("1E+126")
#: DynamoDB stream events the aggregator counts: an item created. Others carry no new item to count.
COUNTED_EVENTS = frozenset({"INSERT"})

logger = Logger()
# Thread-safe: the writers of a closing window share it, with a connection each. One low-level client per
# execution environment, made during init; botocore's, since boto3's session layer adds cold-start time
# for nothing a low-level client uses.
_CLIENT_CONFIG = Config(max_pool_connections=WRITERS)
_session = botocore.session.get_session()
dynamodb = _session.create_client("dynamodb", config=_CLIENT_CONFIG)


def _after_restore() -> None:
    """SnapStart: each environment restored from the snapshot gets its own client (new connections,
    credentials resolved anew) and random seed, not the copies frozen in the snapshot. The service
    models stay loaded: the new session shares the old one's loader."""
    global dynamodb
    session = botocore.session.get_session()
    session.register_component("data_loader", _session.get_component("data_loader"))
    dynamodb = session.create_client("dynamodb", config=_CLIENT_CONFIG)
    random.seed()


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # set by Lambda; the hooks' library is there
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda's runtime only

    register_after_restore(_after_restore)


class BadRecord(ValueError):
    """A record the aggregator cannot read: it belongs to the on-failure destination."""


class WindowIncomplete(RuntimeError):
    """The invocation ran out of time writing a closing window: its retry writes the rest."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fold the batch into the window's state; at the window's end, write it and start afresh."""
    state = _state(event.get("state"))
    records = event.get("Records") or []
    failed_at: int | None = None
    for index, record in enumerate(records):
        try:
            read = read_record(record)
            if read is not None:
                _add(state, *read, sequence_number(record))
        except BadRecord as problem:
            logger.warning("unreadable record", sequence_number=sequence_number(record), reason=str(problem))
            if index == 0:
                raise  # alone at the head of its batch: fail it, so bisect-on-error isolates it
            failed_at = index
            break
    failures = [{"itemIdentifier": sequence_number(records[failed_at])}] if failed_at is not None else []
    if event.get("isFinalInvokeForWindow") and failed_at is None:
        written = write_window(state, event.get("shardId") or "", event.get("window") or {}, context)
        logger.info(
            "window closed",
            window=event.get("window"),
            keys=len(state["keys"]),
            written=written,
            terminated_early=bool(event.get("isWindowTerminatedEarly")),
        )
        return {"state": {}, "batchItemFailures": []}
    return {"state": state, "batchItemFailures": failures}


def read_record(record: dict[str, Any]) -> tuple[str, Decimal] | None:
    """The key and value of a Kinesis or DynamoDB stream record, or None for a change that is not
    counted (a DynamoDB MODIFY or REMOVE); raises ``BadRecord``."""
    if "kinesis" in record:
        try:
            data = json.loads(base64.b64decode(record["kinesis"]["data"]), parse_float=Decimal)
        except (ValueError, TypeError) as error:
            raise BadRecord(f"data is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise BadRecord("data is not a JSON object")
        key, value = data.get(KEY_FIELD), data.get(VALUE_FIELD) if VALUE_FIELD else 0
    elif "dynamodb" in record:
        if record.get("eventName") not in COUNTED_EVENTS:
            return None
        image = record["dynamodb"].get("NewImage") or {}
        key, value = _attribute(image.get(KEY_FIELD)), _attribute(image.get(VALUE_FIELD)) if VALUE_FIELD else 0
    else:
        raise BadRecord("neither a Kinesis nor a DynamoDB stream record")
    if isinstance(key, (int, Decimal)) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise BadRecord(f"{KEY_FIELD} must be a string of 1..{MAX_KEY_LENGTH} characters")
    try:
        number = Decimal(value) if value is not None and not isinstance(value, bool) else None
    except (InvalidOperation, TypeError):
        number = None
    if number is None or not number.is_finite():
        raise BadRecord(f"{VALUE_FIELD} must be a number")
    if not storable(number):
        raise BadRecord(f"{VALUE_FIELD} must be a number DynamoDB can store (38 digits, 1E-130..9.99E+125)")
    return key, number


def storable(number: Decimal) -> bool:
    """Whether DynamoDB can store ``number`` exactly: finite, at most 38 significant digits, zero or a
    magnitude between 1E-130 and 9.99...E+125."""
    if not number.is_finite():
        return False
    if number.is_zero():
        return True
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    # copy_abs, not abs(): abs() rounds to the default context's 28 digits.
    return len(digits) <= 38 and _SMALLEST <= number.copy_abs() < _LARGEST


def sequence_number(record: dict[str, Any]) -> str:
    """The record's sequence number in its shard (the ``itemIdentifier`` of a partial batch response)."""
    if "kinesis" in record:
        kinesis_sequence: str = record["kinesis"]["sequenceNumber"]
        return kinesis_sequence
    dynamodb_sequence: str = record["dynamodb"]["SequenceNumber"]
    return dynamodb_sequence


def write_window(state: dict[str, Any], shard_id: str, window: dict[str, str], context: Any) -> int:
    """One conditional ``UpdateItem`` per key of the closed window, ``WRITERS`` at a time; returns how
    many added to the table. Raises ``WindowIncomplete`` when the invocation's time ran out first."""
    if not state["keys"]:
        return 0

    def write(item: tuple[str, tuple[int, str]]) -> bool | None:
        # None: not tried, too late; the retried invocation writes it.
        if context.get_remaining_time_in_millis() <= TIME_MARGIN_MS:
            return None
        return _write_key(item[0], *item[1], state=state, shard_id=shard_id, window=window)

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        results = list(pool.map(write, sorted(state["keys"].items())))
    left = results.count(None)
    if left:
        raise WindowIncomplete(f"{left} of {len(results)} keys of window {window} not written before the timeout")
    return results.count(True)


def _write_key(
    key: str, count: int, total: str, *, state: dict[str, Any], shard_id: str, window: dict[str, str]
) -> bool:
    """Add one key's count (and sum) to its item, unless this shard's range is already in it."""
    values: dict[str, Any] = {
        ":count": {"N": str(count)},
        ":first": {"S": state["first"]},
        ":last": {"S": state["last"]},
        ":end": {"S": window.get("end", "")},
    }
    names = {"#count": "count", "#applied": f"applied#{shard_id}"}
    adds = "#count :count"
    if VALUE_FIELD:
        names["#sum"] = "sum"
        values[":sum"] = {"N": str(total)}
        adds += ", #sum :sum"
    try:
        dynamodb.update_item(
            TableName=TABLE_NAME,
            Key={"key": {"S": key}, "window_start": {"S": window.get("start", "")}},
            UpdateExpression=f"ADD {adds} SET #applied = :last, window_end = :end",
            ConditionExpression="attribute_not_exists(#applied) OR #applied < :first",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        logger.info("window already applied", key=key, window=window, shard=shard_id)
        return False


def _state(raw: Any) -> dict[str, Any]:
    """The window's state as this handler left it (an empty one at a window's start)."""
    if not isinstance(raw, dict) or "keys" not in raw:
        return {"keys": {}, "first": None, "last": None}
    return raw


def _add(state: dict[str, Any], key: str, value: Decimal, sequence: str) -> None:
    padded = sequence.zfill(_SEQUENCE_WIDTH)
    if state["last"] is not None and padded <= state["last"]:
        return  # already in this window's state: a record delivered twice
    count, total = state["keys"].get(key, (0, "0"))
    try:
        added = DYNAMODB_CONTEXT.add(Decimal(total), value)
    except (Inexact, Rounded, Overflow, Underflow, Clamped):
        raise BadRecord(f"{VALUE_FIELD} would make the sum of {key!r} more than DynamoDB stores exactly") from None
    # The state travels as JSON: the sum is kept as text so no float rounding creeps in.
    state["keys"][key] = (count + 1, str(added))
    state["first"] = state["first"] or padded
    state["last"] = padded


def _attribute(value: dict[str, Any] | None) -> Any:
    """A DynamoDB JSON string or number attribute as its value (anything else: None)."""
    if not isinstance(value, dict):
        return None
    if "S" in value:
        return value["S"]
    if "N" in value:
        return Decimal(value["N"])
    return None
