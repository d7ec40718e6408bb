"""The steps of an order saga: place the order, reserve stock, charge the payment, schedule shipping.

Each handler is one step's action or compensation in ``SagaWorkflow``; it receives the run's state
(the order as started, plus ``saga``: ``execution_id`` and ``results.<Step>``) and is idempotent:
Step Functions retries a task after a transient error, and a task may run again after a timeout that
came after its write, so every write is conditional and a repeat returns what the first call did.

Ownership: every record a run writes carries the run's ``execution_id`` as ``owner``, and every
write and undo is conditional on it, so two runs for one order (an Express run started twice, a
direct start under another name) never undo each other's work: the second is refused
(``ConflictingRun``, not retried) at its first step and its compensations find nothing of theirs.

Tombstones: a compensation that finds nothing to undo still records that it ran (order ``FAILED``,
reservation ``RELEASED``, charge ``REFUNDED``, owned by the run), and an action writes only where
no record exists, so an action arriving late, after its compensation, is refused instead of
leaving stock taken or money charged.

Orders (``ORDERS_TABLE``, key ``order_id``): ``PENDING`` -> ``SHIPPING_SCHEDULED``, or ``FAILED``
when the saga rolled back. Inventory (``INVENTORY_TABLE``, key ``pk``): ``SKU#<sku>`` holds
``available``; ``RESERVATION#<order_id>`` a reservation, ``RESERVED`` then ``RELEASED``; taking
and returning stock is one transaction with the reservation's change; a transaction that conflicts
with a concurrent one raises ``ConcurrentUpdate`` (transient: the saga retries it). Payments
(``PAYMENTS_TABLE``, key ``pk``) is a stub payment provider: ``CHARGE#<order_id>`` is a charge,
``CHARGED`` then ``REFUNDED``; an amount above ``PAYMENT_LIMIT`` is declined
(``PaymentDeclined``, not retried); the control items ``OUTAGE#charge#<order_id>`` /
``OUTAGE#refund#<order_id>`` with ``remaining`` = n make the next n charge / refund calls for that
order fail with ``PaymentProviderUnavailable`` (transient: the saga retries it), as a provider's
outage would, and ``OUTAGE#charge-answer#<order_id>`` makes the next n charge calls fail the same
way *after* the charge went through (its answer lost); they let a demo (and the tests) show retries,
a failed step's own compensation and a compensation that keeps failing. Shipping goes to
``SHIPPING_COUNTRIES`` only (``ShippingUnavailable`` otherwise), for a ``PENDING`` order of the run.

Environment: ORDERS_TABLE, INVENTORY_TABLE, PAYMENTS_TABLE, PAYMENT_LIMIT (default 1000),
SHIPPING_COUNTRIES (comma-separated, default ``DE,FR,NL,US``).

DynamoDB actions: orders: PutItem, GetItem, UpdateItem; inventory: TransactWriteItems (Put/Update),
GetItem, PutItem; payments: PutItem, UpdateItem, GetItem.
"""

from __future__ import annotations

import os
import random
from decimal import Decimal
from typing import Any

import botocore.session
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

logger = Logger()
# One low-level client per execution environment, made during init; botocore's, since boto3's
# session layer adds cold-start time for nothing a low-level client uses.
_session = botocore.session.get_session()
_dynamodb = _session.create_client("dynamodb")
ORDERS_TABLE = os.environ.get("ORDERS_TABLE", "")
INVENTORY_TABLE = os.environ.get("INVENTORY_TABLE", "")
PAYMENTS_TABLE = os.environ.get("PAYMENTS_TABLE", "")
PAYMENT_LIMIT = Decimal(os.environ.get("PAYMENT_LIMIT", "1000"))
SHIPPING_COUNTRIES = frozenset(c.strip() for c in os.environ.get("SHIPPING_COUNTRIES", "DE,FR,NL,US").split(","))


def _after_restore() -> None:
    """SnapStart: each environment restored from the snapshot gets its own client (new connections,
    credentials resolved anew) and random seed, not the copies frozen in the snapshot. The service
    models stay loaded: the new session shares the old one's loader."""
    global _dynamodb
    session = botocore.session.get_session()
    session.register_component("data_loader", _session.get_component("data_loader"))
    _dynamodb = session.create_client("dynamodb")
    random.seed()


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # set by Lambda; the hooks' library is there
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda's runtime only

    register_after_restore(_after_restore)


class InvalidOrder(Exception):
    """The order lacks a field or has a bad value: not retried."""


class ConflictingRun(Exception):
    """The record belongs to another run of the same order, or this run already undid it: not retried."""


class ConcurrentUpdate(Exception):
    """A DynamoDB transaction conflicted with a concurrent one: transient, the saga retries it."""


class OutOfStock(Exception):
    """Not enough stock for the order: not retried."""


class PaymentDeclined(Exception):
    """The payment provider declined the charge: not retried."""


class PaymentProviderUnavailable(Exception):
    """The payment provider did not answer: transient, the saga retries it."""


class ShippingUnavailable(Exception):
    """No carrier ships to the order's country: not retried."""


def _order(event: dict[str, Any]) -> tuple[str, str, int, Decimal]:
    try:
        order_id, sku = str(event["order_id"]), str(event["sku"])
        quantity, amount = int(event["quantity"]), Decimal(str(event["amount"]))
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise InvalidOrder(f"order fields missing or malformed: {error}") from None
    if not order_id or not sku or quantity < 1 or amount <= 0:
        raise InvalidOrder("order_id and sku must be set, quantity and amount positive")
    return order_id, sku, quantity, amount


def _owner(event: dict[str, Any]) -> dict[str, str]:
    """The run's execution id (``saga.execution_id``), as the DynamoDB value of ``owner``."""
    saga = event.get("saga")
    execution_id = saga.get("execution_id") if isinstance(saga, dict) else None
    if not isinstance(execution_id, str) or not execution_id:
        raise InvalidOrder("saga.execution_id is missing: the saga passes the run's id to every step")
    return {"S": execution_id}


def _condition_failed(error: ClientError) -> bool:
    code: str = error.response["Error"]["Code"]
    return code == "ConditionalCheckFailedException"


def _cancelled_by_condition(error: ClientError, guarded: int) -> bool:
    """Whether a cancelled transaction failed only on item ``guarded``'s condition.

    Raises ``ConcurrentUpdate`` when any item was cancelled for another reason (a
    ``TransactionConflict`` with a concurrent write, throttling): that is transient, not an answer.
    """
    codes = [reason.get("Code") or "None" for reason in error.response.get("CancellationReasons", [])]
    if not codes or any(code not in ("None", "ConditionalCheckFailed") for code in codes):
        raise ConcurrentUpdate(f"the transaction was cancelled ({', '.join(codes) or 'no reasons'}); retry") from None
    return guarded < len(codes) and codes[guarded] == "ConditionalCheckFailed"


def _get(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    item: dict[str, Any] | None = _dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return item


# -- PlaceOrder ----------------------------------------------------------------------------------


@logger.inject_lambda_context
def place_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Record the order as PENDING for this run (a repeat finds it there and changes nothing)."""
    order_id, sku, quantity, amount = _order(event)
    owner = _owner(event)
    key = {"order_id": {"S": order_id}}
    try:
        _dynamodb.put_item(
            TableName=ORDERS_TABLE,
            Item={
                **key,
                "status": {"S": "PENDING"},
                "owner": owner,
                "sku": {"S": sku},
                "quantity": {"N": str(quantity)},
                "amount": {"N": str(amount)},
            },
            ConditionExpression="attribute_not_exists(order_id)",
        )
    except ClientError as error:
        if not _condition_failed(error):
            raise
        found = _get(ORDERS_TABLE, key) or {}
        if found.get("owner") != owner or found.get("status", {}).get("S") != "PENDING":
            raise ConflictingRun(f"order {order_id} belongs to another run or was already failed") from None
    logger.info("order placed", extra={"order_id": order_id})
    return {"order_id": order_id, "status": "PENDING"}


@logger.inject_lambda_context
def fail_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compensation of PlaceOrder: mark this run's order FAILED (kept for the customer's history).

    With no order yet the FAILED record is written all the same, so a late PlaceOrder is refused.
    """
    order_id = str(event["order_id"])
    try:
        _dynamodb.update_item(
            TableName=ORDERS_TABLE,
            Key={"order_id": {"S": order_id}},
            UpdateExpression="SET #status = :failed, #owner = :owner",
            ConditionExpression="attribute_not_exists(order_id) OR #owner = :owner",
            ExpressionAttributeNames={"#status": "status", "#owner": "owner"},
            ExpressionAttributeValues={":failed": {"S": "FAILED"}, ":owner": _owner(event)},
        )
    except ClientError as error:
        if not _condition_failed(error):
            raise
        logger.info("order belongs to another run", extra={"order_id": order_id})
        return {"order_id": order_id, "status": None}
    logger.info("order marked failed", extra={"order_id": order_id})
    return {"order_id": order_id, "status": "FAILED"}


# -- ReserveInventory ------------------------------------------------------------------------------


@logger.inject_lambda_context
def reserve_inventory(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Take ``quantity`` of ``sku`` from stock and record the run's reservation, in one transaction."""
    order_id, sku, quantity, _ = _order(event)
    owner = _owner(event)
    reservation = {"pk": {"S": f"RESERVATION#{order_id}"}}
    try:
        _dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": INVENTORY_TABLE,
                        "Item": {
                            **reservation,
                            "sku": {"S": sku},
                            "quantity": {"N": str(quantity)},
                            "status": {"S": "RESERVED"},
                            "owner": owner,
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": INVENTORY_TABLE,
                        "Key": {"pk": {"S": f"SKU#{sku}"}},
                        "UpdateExpression": "SET available = available - :quantity",
                        "ConditionExpression": "available >= :quantity",
                        "ExpressionAttributeValues": {":quantity": {"N": str(quantity)}},
                    }
                },
            ]
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        if _cancelled_by_condition(error, 0):  # a reservation exists: this run's earlier attempt, or not
            found = _get(INVENTORY_TABLE, reservation) or {}
            if found.get("owner") != owner or found.get("status", {}).get("S") != "RESERVED":
                raise ConflictingRun(f"order {order_id}'s reservation belongs to another run or was released") from None
            logger.info("already reserved", extra={"order_id": order_id})
            return {"reservation": f"RESERVATION#{order_id}"}
        raise OutOfStock(f"not enough {sku} in stock for {quantity}") from None
    logger.info("reserved", extra={"order_id": order_id, "sku": sku, "quantity": quantity})
    return {"reservation": f"RESERVATION#{order_id}"}


@logger.inject_lambda_context
def release_inventory(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compensation of ReserveInventory: return this run's stock and mark the reservation RELEASED, once.

    With no reservation yet a RELEASED one is written, so a late ReserveInventory takes nothing.
    """
    order_id = str(event["order_id"])
    owner = _owner(event)
    key = {"pk": {"S": f"RESERVATION#{order_id}"}}
    found = _get(INVENTORY_TABLE, key)
    if found is None:
        try:
            _dynamodb.put_item(
                TableName=INVENTORY_TABLE,
                Item={**key, "status": {"S": "RELEASED"}, "owner": owner},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            raise ConcurrentUpdate(f"order {order_id} was reserved meanwhile; retry to release it") from None
        logger.info("nothing to release", extra={"order_id": order_id})
        return {"released": False}
    if found.get("owner") != owner or found["status"]["S"] != "RESERVED":
        logger.info("nothing of this run to release", extra={"order_id": order_id})
        return {"released": False}
    try:
        _dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": INVENTORY_TABLE,
                        "Key": key,
                        "UpdateExpression": "SET #status = :released",
                        "ConditionExpression": "#status = :reserved AND #owner = :owner",
                        "ExpressionAttributeNames": {"#status": "status", "#owner": "owner"},
                        "ExpressionAttributeValues": {
                            ":released": {"S": "RELEASED"},
                            ":reserved": {"S": "RESERVED"},
                            ":owner": owner,
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": INVENTORY_TABLE,
                        "Key": {"pk": {"S": f"SKU#{found['sku']['S']}"}},
                        "UpdateExpression": "SET available = available + :quantity",
                        "ExpressionAttributeValues": {":quantity": found["quantity"]},
                    }
                },
            ]
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        if _cancelled_by_condition(error, 0):
            return {"released": False}  # a concurrent repeat released it first
        raise
    logger.info("released", extra={"order_id": order_id})
    return {"released": True}


# -- ChargePayment -------------------------------------------------------------------------------


def _provider_outage(kind: str, order_id: str) -> None:
    """Fail like an unavailable provider while the stub's outage item for ``kind`` has calls remaining."""
    try:
        _dynamodb.update_item(
            TableName=PAYMENTS_TABLE,
            Key={"pk": {"S": f"OUTAGE#{kind}#{order_id}"}},
            UpdateExpression="SET remaining = remaining - :one",
            ConditionExpression="remaining > :zero",
            ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}},
        )
    except ClientError as error:
        if _condition_failed(error):
            return
        raise
    raise PaymentProviderUnavailable(f"the payment provider did not answer ({kind})")


@logger.inject_lambda_context
def charge_payment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Charge the order's amount once for this run; above the limit the stub provider declines."""
    order_id, _, _, amount = _order(event)
    owner = _owner(event)
    key = {"pk": {"S": f"CHARGE#{order_id}"}}
    found = _get(PAYMENTS_TABLE, key)
    if found is None:
        _provider_outage("charge", order_id)
        if amount > PAYMENT_LIMIT:
            raise PaymentDeclined(f"amount {amount} is above the limit of {PAYMENT_LIMIT}")
        try:
            _dynamodb.put_item(
                TableName=PAYMENTS_TABLE,
                Item={**key, "amount": {"N": str(amount)}, "status": {"S": "CHARGED"}, "owner": owner},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            found = _get(PAYMENTS_TABLE, key)
        else:
            found = {"amount": {"N": str(amount)}, "status": {"S": "CHARGED"}, "owner": owner}
    if found is None or found.get("owner") != owner or found["status"]["S"] != "CHARGED":
        raise ConflictingRun(f"order {order_id}'s charge belongs to another run or was refunded")
    _provider_outage("charge-answer", order_id)
    logger.info("charged", extra={"order_id": order_id, "amount": found["amount"]["N"]})
    return {"charge": key["pk"]["S"], "amount": found["amount"]["N"]}


@logger.inject_lambda_context
def refund_payment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compensation of ChargePayment: refund this run's charge once.

    With no charge yet a REFUNDED record is written, so a late ChargePayment charges nothing.
    """
    order_id = str(event["order_id"])
    owner = _owner(event)
    _provider_outage("refund", order_id)
    try:
        old = _dynamodb.update_item(
            TableName=PAYMENTS_TABLE,
            Key={"pk": {"S": f"CHARGE#{order_id}"}},
            UpdateExpression="SET #status = :refunded, #owner = :owner",
            ConditionExpression="attribute_not_exists(pk) OR (#owner = :owner AND #status = :charged)",
            ExpressionAttributeNames={"#status": "status", "#owner": "owner"},
            ExpressionAttributeValues={
                ":refunded": {"S": "REFUNDED"},
                ":charged": {"S": "CHARGED"},
                ":owner": owner,
            },
            ReturnValues="ALL_OLD",
        ).get("Attributes")
    except ClientError as error:
        if not _condition_failed(error):
            raise
        logger.info("nothing of this run to refund", extra={"order_id": order_id})
        return {"refunded": False}
    logger.info("refunded" if old else "nothing to refund", extra={"order_id": order_id})
    return {"refunded": old is not None}


# -- ScheduleShipping ----------------------------------------------------------------------------


@logger.inject_lambda_context
def schedule_shipping(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Book shipping and mark this run's PENDING order SHIPPING_SCHEDULED (the last step: nothing to undo after it)."""
    order_id, _, _, _ = _order(event)
    country = str(event.get("country", ""))
    if country not in SHIPPING_COUNTRIES:
        raise ShippingUnavailable(f"no carrier ships to {country!r}")
    try:
        _dynamodb.update_item(
            TableName=ORDERS_TABLE,
            Key={"order_id": {"S": order_id}},
            UpdateExpression="SET #status = :scheduled, shipment = :shipment",
            ConditionExpression="#owner = :owner AND #status IN (:pending, :scheduled)",
            ExpressionAttributeNames={"#status": "status", "#owner": "owner"},
            ExpressionAttributeValues={
                ":scheduled": {"S": "SHIPPING_SCHEDULED"},
                ":pending": {"S": "PENDING"},
                ":shipment": {"S": f"SHIP#{order_id}"},
                ":owner": _owner(event),
            },
        )
    except ClientError as error:
        if not _condition_failed(error):
            raise
        raise ConflictingRun(f"order {order_id} is not this run's pending order") from None
    logger.info("shipping scheduled", extra={"order_id": order_id, "country": country})
    return {"shipment": f"SHIP#{order_id}"}
