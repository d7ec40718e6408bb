"""The steps of an order saga: place the order, reserve stock, charge the payment, schedule shipping.

Each handler is one step's action or compensation in ``SagaWorkflow``; it receives the run's state
(the order as started, plus ``results.<Step>``) and is idempotent: Step Functions retries a task
after a transient error, and a task may run again after a timeout that came after its write, so
every write is conditional and a repeat returns what the first call did.

Orders (``ORDERS_TABLE``, key ``order_id``): ``PENDING`` -> ``SHIPPING_SCHEDULED``, or ``FAILED``
when the saga rolled back. Inventory (``INVENTORY_TABLE``, key ``pk``): ``SKU#<sku>`` holds
``available``; ``RESERVATION#<order_id>`` a reservation, ``RESERVED`` then ``RELEASED``; taking
and returning stock is one transaction with the reservation's change. Payments
(``PAYMENTS_TABLE``, key ``pk``) is a stub payment provider: ``CHARGE#<order_id>`` is a charge,
``CHARGED`` then ``REFUNDED``; an amount above ``PAYMENT_LIMIT`` is declined
(``PaymentDeclined``, not retried); the control items ``OUTAGE#charge#<order_id>`` /
``OUTAGE#refund#<order_id>`` with ``remaining`` = n make the next n charge / refund calls for that
order fail with ``PaymentProviderUnavailable`` (transient: the saga retries it), as a provider's
outage would; they let a demo (and the tests) show retries and a compensation that keeps failing. Shipping goes to ``SHIPPING_COUNTRIES`` only
(``ShippingUnavailable`` otherwise).

Environment: ORDERS_TABLE, INVENTORY_TABLE, PAYMENTS_TABLE, PAYMENT_LIMIT (default 1000),
SHIPPING_COUNTRIES (comma-separated, default ``DE,FR,NL,US``).

DynamoDB actions: orders: PutItem, UpdateItem; inventory: TransactWriteItems (ConditionCheck/Put/
Update), GetItem; payments: PutItem, UpdateItem, GetItem.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

logger = Logger()
_dynamodb = boto3.client("dynamodb")
ORDERS_TABLE = os.environ.get("ORDERS_TABLE", "")
INVENTORY_TABLE = os.environ.get("INVENTORY_TABLE", "")
PAYMENTS_TABLE = os.environ.get("PAYMENTS_TABLE", "")
PAYMENT_LIMIT = Decimal(os.environ.get("PAYMENT_LIMIT", "1000"))
SHIPPING_COUNTRIES = frozenset(c.strip() for c in os.environ.get("SHIPPING_COUNTRIES", "DE,FR,NL,US").split(","))


class InvalidOrder(Exception):
    """The order lacks a field or has a bad value: not retried."""


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


def _condition_failed(error: ClientError) -> bool:
    return error.response["Error"]["Code"] in ("ConditionalCheckFailedException", "TransactionCanceledException")


def _reasons(error: ClientError) -> list[str]:
    return [reason.get("Code", "") for reason in error.response.get("CancellationReasons", [])]


# -- PlaceOrder ----------------------------------------------------------------------------------


@logger.inject_lambda_context
def place_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Record the order as PENDING (a repeat finds it there and changes nothing)."""
    order_id, sku, quantity, amount = _order(event)
    try:
        _dynamodb.put_item(
            TableName=ORDERS_TABLE,
            Item={
                "order_id": {"S": order_id},
                "status": {"S": "PENDING"},
                "sku": {"S": sku},
                "quantity": {"N": str(quantity)},
                "amount": {"N": str(amount)},
            },
            ConditionExpression="attribute_not_exists(order_id)",
        )
    except ClientError as error:
        if not _condition_failed(error):
            raise
    logger.info("order placed", extra={"order_id": order_id})
    return {"order_id": order_id, "status": "PENDING"}


@logger.inject_lambda_context
def fail_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compensation of PlaceOrder: mark the order FAILED, keeping it for the customer's history."""
    order_id = str(event["order_id"])
    try:
        _dynamodb.update_item(
            TableName=ORDERS_TABLE,
            Key={"order_id": {"S": order_id}},
            UpdateExpression="SET #status = :failed",
            ConditionExpression="attribute_exists(order_id)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":failed": {"S": "FAILED"}},
        )
    except ClientError as error:
        if not _condition_failed(error):
            raise
        return {"order_id": order_id, "status": None}
    logger.info("order marked failed", extra={"order_id": order_id})
    return {"order_id": order_id, "status": "FAILED"}


# -- ReserveInventory ------------------------------------------------------------------------------


@logger.inject_lambda_context
def reserve_inventory(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Take ``quantity`` of ``sku`` from stock and record the reservation, in one transaction."""
    order_id, sku, quantity, _ = _order(event)
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
        if not _condition_failed(error):
            raise
        reasons = _reasons(error)
        if reasons and reasons[0] == "ConditionalCheckFailed":  # reserved by an earlier attempt
            logger.info("already reserved", extra={"order_id": order_id})
            return {"reservation": f"RESERVATION#{order_id}"}
        raise OutOfStock(f"not enough {sku} in stock for {quantity}") from None
    logger.info("reserved", extra={"order_id": order_id, "sku": sku, "quantity": quantity})
    return {"reservation": f"RESERVATION#{order_id}"}


@logger.inject_lambda_context
def release_inventory(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compensation of ReserveInventory: return the stock and mark the reservation RELEASED, once."""
    order_id = str(event["order_id"])
    key = {"pk": {"S": f"RESERVATION#{order_id}"}}
    found = _dynamodb.get_item(TableName=INVENTORY_TABLE, Key=key, ConsistentRead=True).get("Item")
    if found is None or found["status"]["S"] != "RESERVED":
        logger.info("nothing to release", extra={"order_id": order_id})
        return {"released": False}
    try:
        _dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": INVENTORY_TABLE,
                        "Key": key,
                        "UpdateExpression": "SET #status = :released",
                        "ConditionExpression": "#status = :reserved",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":released": {"S": "RELEASED"}, ":reserved": {"S": "RESERVED"}},
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
        if not _condition_failed(error):
            raise
        return {"released": False}  # a concurrent repeat released it first
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
    raise PaymentProviderUnavailable(f"the payment provider did not answer the {kind}")


@logger.inject_lambda_context
def charge_payment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Charge the order's amount once; above the limit the stub provider declines."""
    order_id, _, _, amount = _order(event)
    key = {"pk": {"S": f"CHARGE#{order_id}"}}
    found = _dynamodb.get_item(TableName=PAYMENTS_TABLE, Key=key, ConsistentRead=True).get("Item")
    if found is not None:
        return {"charge": key["pk"]["S"], "amount": found["amount"]["N"]}
    _provider_outage("charge", order_id)
    if amount > PAYMENT_LIMIT:
        raise PaymentDeclined(f"amount {amount} is above the limit of {PAYMENT_LIMIT}")
    try:
        _dynamodb.put_item(
            TableName=PAYMENTS_TABLE,
            Item={**key, "amount": {"N": str(amount)}, "status": {"S": "CHARGED"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if not _condition_failed(error):
            raise
    logger.info("charged", extra={"order_id": order_id, "amount": str(amount)})
    return {"charge": key["pk"]["S"], "amount": str(amount)}


@logger.inject_lambda_context
def refund_payment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Compensation of ChargePayment: refund the charge once (no charge, nothing to refund)."""
    order_id = str(event["order_id"])
    _provider_outage("refund", order_id)
    try:
        _dynamodb.update_item(
            TableName=PAYMENTS_TABLE,
            Key={"pk": {"S": f"CHARGE#{order_id}"}},
            UpdateExpression="SET #status = :refunded",
            ConditionExpression="#status = :charged",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":refunded": {"S": "REFUNDED"}, ":charged": {"S": "CHARGED"}},
        )
    except ClientError as error:
        if not _condition_failed(error):
            raise
        logger.info("nothing to refund", extra={"order_id": order_id})
        return {"refunded": False}
    logger.info("refunded", extra={"order_id": order_id})
    return {"refunded": True}


# -- ScheduleShipping ----------------------------------------------------------------------------


@logger.inject_lambda_context
def schedule_shipping(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Book shipping and mark the order SHIPPING_SCHEDULED (the last step: nothing to undo after it)."""
    order_id, _, _, _ = _order(event)
    country = str(event.get("country", ""))
    if country not in SHIPPING_COUNTRIES:
        raise ShippingUnavailable(f"no carrier ships to {country!r}")
    _dynamodb.update_item(
        TableName=ORDERS_TABLE,
        Key={"order_id": {"S": order_id}},
        UpdateExpression="SET #status = :scheduled, shipment = :shipment",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":scheduled": {"S": "SHIPPING_SCHEDULED"}, ":shipment": {"S": f"SHIP#{order_id}"}},
    )
    logger.info("shipping scheduled", extra={"order_id": order_id, "country": country})
    return {"shipment": f"SHIP#{order_id}"}
