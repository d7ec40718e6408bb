"""The order saga's handlers against moto's server: each step's effect, once however often it runs, and its undo."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber
from handler_loader import load_handler
from lambda_context import LambdaContext

RUN = "arn:aws:states:us-east-1:123456789012:execution:OrderSaga:o-1"
ORDER = {
    "order_id": "o-1",
    "sku": "lamp",
    "quantity": 3,
    "amount": 120,
    "country": "DE",
    "saga": {"execution_id": RUN, "results": {}},
}
OTHER_RUN = {**ORDER, "saga": {"execution_id": RUN + "-again", "results": {}}}
TABLES = {
    "ORDERS_TABLE": ("orders", "order_id"),
    "INVENTORY_TABLE": ("inventory", "pk"),
    "PAYMENTS_TABLE": ("payments", "pk"),
}


@pytest.fixture
def saga(aws, monkeypatch):
    dynamodb = boto3.client("dynamodb")
    for variable, (name, key) in TABLES.items():
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv(variable, name)
    monkeypatch.setenv("PAYMENT_LIMIT", "500")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "order_saga")
    dynamodb.put_item(TableName="inventory", Item={"pk": {"S": "SKU#lamp"}, "available": {"N": "5"}})
    return load_handler("order_saga")


def item(table: str, key: str, value: str) -> dict:
    found = boto3.resource("dynamodb").Table(table).get_item(Key={key: value}, ConsistentRead=True).get("Item", {})
    return dict(found)


def call(handler, event: dict) -> dict:
    return handler(event, LambdaContext())


def test_place_order_records_it_once(saga):
    assert call(saga.place_order, ORDER) == {"order_id": "o-1", "status": "PENDING"}
    assert call(saga.place_order, {**ORDER, "amount": 999}) == {"order_id": "o-1", "status": "PENDING"}
    assert item("orders", "order_id", "o-1")["amount"] == Decimal(120)  # the repeat changed nothing


def test_reserve_takes_stock_once_and_release_gives_it_back_once(saga):
    assert call(saga.reserve_inventory, ORDER) == {"reservation": "RESERVATION#o-1"}
    assert call(saga.reserve_inventory, ORDER) == {"reservation": "RESERVATION#o-1"}  # a retry
    assert item("inventory", "pk", "SKU#lamp")["available"] == 2
    assert call(saga.release_inventory, ORDER) == {"released": True}
    assert call(saga.release_inventory, ORDER) == {"released": False}
    assert item("inventory", "pk", "SKU#lamp")["available"] == 5
    assert item("inventory", "pk", "RESERVATION#o-1")["status"] == "RELEASED"


def test_reserve_refuses_more_than_the_stock_and_leaves_nothing(saga):
    with pytest.raises(saga.OutOfStock):
        call(saga.reserve_inventory, {**ORDER, "quantity": 6})
    assert item("inventory", "pk", "RESERVATION#o-1") == {}
    assert call(saga.release_inventory, ORDER) == {"released": False}  # nothing to undo
    assert item("inventory", "pk", "SKU#lamp")["available"] == 5


def test_a_reserve_arriving_after_its_release_takes_nothing(saga):
    assert call(saga.release_inventory, ORDER) == {"released": False}
    assert item("inventory", "pk", "RESERVATION#o-1")["status"] == "RELEASED"  # the tombstone
    with pytest.raises(saga.ConflictingRun):
        call(saga.reserve_inventory, ORDER)
    assert item("inventory", "pk", "SKU#lamp")["available"] == 5


def cancelled(stubber: Stubber, *codes: str) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled",
        http_status_code=400,
        modeled_fields={"CancellationReasons": [{"Code": code} for code in codes]},
    )


def test_a_transaction_conflict_is_transient_not_out_of_stock(saga):
    with Stubber(saga._dynamodb) as stubber:
        cancelled(stubber, "None", "TransactionConflict")
        with pytest.raises(saga.ConcurrentUpdate):
            call(saga.reserve_inventory, ORDER)
        cancelled(stubber, "None", "ConditionalCheckFailed")
        with pytest.raises(saga.OutOfStock):
            call(saga.reserve_inventory, ORDER)


def test_a_transaction_conflict_while_releasing_is_retried_not_taken_as_done(saga):
    call(saga.reserve_inventory, ORDER)
    reservation = boto3.client("dynamodb").get_item(TableName="inventory", Key={"pk": {"S": "RESERVATION#o-1"}})
    with Stubber(saga._dynamodb) as stubber:
        stubber.add_response("get_item", {"Item": reservation["Item"]})
        cancelled(stubber, "None", "TransactionConflict")
        with pytest.raises(saga.ConcurrentUpdate):
            call(saga.release_inventory, ORDER)
    assert call(saga.release_inventory, ORDER) == {"released": True}  # the retry
    assert item("inventory", "pk", "SKU#lamp")["available"] == 5


def test_charge_declines_above_the_limit_and_charges_once_below_it(saga):
    with pytest.raises(saga.PaymentDeclined):
        call(saga.charge_payment, {**ORDER, "order_id": "big", "amount": 501})
    assert item("payments", "pk", "CHARGE#big") == {}
    assert call(saga.charge_payment, ORDER) == {"charge": "CHARGE#o-1", "amount": "120"}
    assert call(saga.charge_payment, ORDER) == {"charge": "CHARGE#o-1", "amount": "120"}
    assert call(saga.refund_payment, ORDER) == {"refunded": True}
    assert call(saga.refund_payment, ORDER) == {"refunded": False}
    assert item("payments", "pk", "CHARGE#o-1")["status"] == "REFUNDED"


def test_a_charge_arriving_after_its_refund_is_refused(saga):
    assert call(saga.refund_payment, ORDER) == {"refunded": False}  # nothing to refund: a tombstone
    with pytest.raises(saga.ConflictingRun):
        call(saga.charge_payment, ORDER)
    assert item("payments", "pk", "CHARGE#o-1")["status"] == "REFUNDED"


def test_a_lost_answer_leaves_the_charge_written_for_its_compensation(saga):
    boto3.client("dynamodb").put_item(
        TableName="payments", Item={"pk": {"S": "OUTAGE#charge-answer#o-1"}, "remaining": {"N": "2"}}
    )
    for _ in range(2):
        with pytest.raises(saga.PaymentProviderUnavailable):
            call(saga.charge_payment, ORDER)
    assert item("payments", "pk", "CHARGE#o-1")["status"] == "CHARGED"  # once, however often it ran
    assert call(saga.refund_payment, ORDER) == {"refunded": True}


def test_another_run_for_the_same_order_neither_proceeds_nor_undoes_the_first(saga):
    call(saga.place_order, ORDER)
    call(saga.reserve_inventory, ORDER)
    call(saga.charge_payment, ORDER)
    call(saga.schedule_shipping, ORDER)
    for action in (saga.place_order, saga.reserve_inventory, saga.charge_payment, saga.schedule_shipping):
        with pytest.raises(saga.ConflictingRun):
            call(action, OTHER_RUN)
    assert call(saga.fail_order, OTHER_RUN)["status"] is None
    assert call(saga.release_inventory, OTHER_RUN) == {"released": False}
    assert call(saga.refund_payment, OTHER_RUN) == {"refunded": False}
    assert item("orders", "order_id", "o-1")["status"] == "SHIPPING_SCHEDULED"
    assert item("inventory", "pk", "RESERVATION#o-1")["status"] == "RESERVED"
    assert item("inventory", "pk", "SKU#lamp")["available"] == 2
    assert item("payments", "pk", "CHARGE#o-1")["status"] == "CHARGED"


def test_every_step_needs_the_run_id(saga):
    with pytest.raises(saga.InvalidOrder, match="execution_id"):
        call(saga.place_order, {**ORDER, "saga": {}})


def test_an_outage_fails_the_next_calls_as_transient_then_clears(saga):
    boto3.client("dynamodb").put_item(
        TableName="payments", Item={"pk": {"S": "OUTAGE#charge#o-1"}, "remaining": {"N": "2"}}
    )
    for _ in range(2):
        with pytest.raises(saga.PaymentProviderUnavailable):
            call(saga.charge_payment, ORDER)
    assert call(saga.charge_payment, ORDER)["charge"] == "CHARGE#o-1"


def test_fail_order_marks_the_order_failed_and_a_late_place_order_is_refused(saga):
    call(saga.place_order, ORDER)
    assert call(saga.fail_order, ORDER)["status"] == "FAILED"
    assert item("orders", "order_id", "o-1")["status"] == "FAILED"
    assert call(saga.fail_order, {**ORDER, "order_id": "o-2"})["status"] == "FAILED"  # nothing placed: a tombstone
    with pytest.raises(saga.ConflictingRun):
        call(saga.place_order, {**ORDER, "order_id": "o-2"})


def test_shipping_goes_to_served_countries_only_for_a_pending_order(saga):
    with pytest.raises(saga.ConflictingRun):
        call(saga.schedule_shipping, ORDER)  # no order placed
    call(saga.place_order, ORDER)
    with pytest.raises(saga.ShippingUnavailable):
        call(saga.schedule_shipping, {**ORDER, "country": "XX"})
    assert call(saga.schedule_shipping, ORDER) == {"shipment": "SHIP#o-1"}
    assert call(saga.schedule_shipping, ORDER) == {"shipment": "SHIP#o-1"}  # a repeat
    assert item("orders", "order_id", "o-1")["status"] == "SHIPPING_SCHEDULED"
    call(saga.fail_order, ORDER)
    with pytest.raises(saga.ConflictingRun):
        call(saga.schedule_shipping, ORDER)  # a failed order is not shipped


@pytest.mark.parametrize("bad", [{"quantity": 0}, {"amount": "lots"}, {"sku": ""}])
def test_a_malformed_order_is_refused_before_any_write(saga, bad):
    with pytest.raises(saga.InvalidOrder):
        call(saga.place_order, {**ORDER, **bad})
    assert item("orders", "order_id", "o-1") == {}
