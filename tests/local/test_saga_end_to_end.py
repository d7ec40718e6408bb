"""OrderSagaDemo run locally: orders started over HTTP, the state machine executed for real, the tables checked.

One ``LocalRun`` of the synthesized OrderSagaDemo for the module. moto's interpreter executes the
state machine; its Lambda tasks run in the local workers. The four orders are started together (each
run waits on its own retries) and each test then checks one of them: its execution's status, error
and cause, its history, and that the tables hold nothing half-done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from http_client import request

from patterns.local.endpoint import local_client
from patterns.local.runner import LocalRun, LocalRunOptions
from stacks.order_saga_demo import PAYMENT_LIMIT

SIGV4 = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/execute-api/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0000",
    "X-Amz-Date": "20260101T000000Z",
    "Content-Type": "application/json",
}
STOCK = 10
ORDERS = {
    "shipped": {"order_id": "ok-1", "sku": "lamp", "quantity": 2, "amount": 40, "country": "DE"},
    "declined": {"order_id": "big-1", "sku": "lamp", "quantity": 1, "amount": int(PAYMENT_LIMIT) + 1, "country": "FR"},
    "retried": {"order_id": "flaky-1", "sku": "desk", "quantity": 1, "amount": 300, "country": "NL"},
    "stuck": {"order_id": "stuck-1", "sku": "desk", "quantity": 3, "amount": 90, "country": "XX"},
    "lost": {"order_id": "lost-1", "sku": "lamp", "quantity": 1, "amount": 70, "country": "US"},
}


class Saga:
    """The run, its tables and the executions of the four orders."""

    def __init__(self, run: LocalRun) -> None:
        assert run.environment is not None
        self.run = run
        self.endpoint = run.environment.endpoint
        (self.api,) = run.apis
        variables = {
            name: value
            for function in run.environment.stack("OrderSagaDemo").functions.values()
            for name, value in function.environment.items()
        }
        self.tables = {name: variables[f"{name.upper()}_TABLE"] for name in ("orders", "inventory", "payments")}
        self.dynamodb = local_client("dynamodb", self.endpoint)
        self.stepfunctions = local_client("stepfunctions", self.endpoint)
        self.executions: dict[str, dict] = {}

    def start(self, order: dict) -> tuple[int, Any]:
        status, _, body = request(self.api.url, "POST", "/orders", SIGV4, json.dumps(order).encode())
        return status, json.loads(body)

    def wait(self, arn: str, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution = self.stepfunctions.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                return execution
            time.sleep(0.2)
        raise AssertionError(f"{arn} still running after {timeout} s")

    def item(self, table: str, key: str, value: str) -> dict:
        found = self.dynamodb.get_item(TableName=self.tables[table], Key={key: {"S": value}}).get("Item", {})
        return {name: next(iter(typed.values())) for name, typed in found.items()}

    def history(self, arn: str) -> list[dict]:
        return self.stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]


@pytest.fixture(scope="module")
def saga(demo_app) -> Iterator[Saga]:
    lines: list[str] = []
    options = LocalRunOptions(assembly_dir=demo_app.outdir, stacks=["OrderSagaDemo"], port=0, retry_delay_seconds=0)
    with LocalRun(options, log=lines.append) as run:
        saga = Saga(run)
        put = saga.dynamodb.put_item
        for sku in ("lamp", "desk"):
            put(TableName=saga.tables["inventory"], Item={"pk": {"S": f"SKU#{sku}"}, "available": {"N": str(STOCK)}})
        # The stub provider fails the retried order's first charge, and every refund of the stuck order.
        put(TableName=saga.tables["payments"], Item={"pk": {"S": "OUTAGE#charge#flaky-1"}, "remaining": {"N": "1"}})
        put(TableName=saga.tables["payments"], Item={"pk": {"S": "OUTAGE#refund#stuck-1"}, "remaining": {"N": "99"}})
        # ... and loses the answer to every charge of the lost order, after charging it.
        put(
            TableName=saga.tables["payments"],
            Item={"pk": {"S": "OUTAGE#charge-answer#lost-1"}, "remaining": {"N": "99"}},
        )
        started = {name: saga.start(order) for name, order in ORDERS.items()}
        for name, (status, body) in started.items():
            assert status == 200, (name, body)
            saga.executions[name] = saga.wait(body["executionArn"])
        # A second run for a shipped order (started directly, under another name) that would fail at shipping.
        again = saga.stepfunctions.start_execution(
            stateMachineArn=saga.executions["shipped"]["stateMachineArn"],
            name="ok-1-again",
            input=json.dumps({**ORDERS["shipped"], "country": "XX"}),
        )
        saga.executions["again"] = saga.wait(again["executionArn"])
        saga.lines = lines  # type: ignore[attr-defined]
        yield saga


def test_an_order_that_goes_through_is_reserved_charged_and_scheduled(saga: Saga):
    execution = saga.executions["shipped"]
    assert execution["status"] == "SUCCEEDED"
    assert execution["name"] == "ok-1"  # the business key names the run
    output = json.loads(execution["output"])
    assert output["saga"]["results"]["ScheduleShipping"] == {"shipment": "SHIP#ok-1"}
    assert output["saga"]["execution_id"] == execution["executionArn"]
    assert saga.item("orders", "order_id", "ok-1")["status"] == "SHIPPING_SCHEDULED"
    assert saga.item("inventory", "pk", "RESERVATION#ok-1")["status"] == "RESERVED"
    assert saga.item("payments", "pk", "CHARGE#ok-1")["status"] == "CHARGED"


def test_a_declined_payment_releases_the_reservation_and_fails_the_order(saga: Saga):
    execution = saga.executions["declined"]
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Saga.RolledBack"
    assert execution["cause"].startswith("Step ChargePayment failed (PaymentDeclined: ")
    assert "compensated in reverse order" in execution["cause"]
    assert saga.item("orders", "order_id", "big-1")["status"] == "FAILED"
    assert saga.item("inventory", "pk", "RESERVATION#big-1")["status"] == "RELEASED"
    # Never charged: the refund found nothing and left a tombstone, so a late charge is refused.
    assert saga.item("payments", "pk", "CHARGE#big-1")["status"] == "REFUNDED"
    assert "amount" not in saga.item("payments", "pk", "CHARGE#big-1")
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in saga.history(execution["executionArn"])
        if "stateEnteredEventDetails" in e
    ]
    assert entered[entered.index("ChargePaymentFailed") :] == [
        "ChargePaymentFailed",
        "UndoChargePayment",
        "UndoReserveInventory",
        "UndoPlaceOrder",
        "CompensationsSucceeded",
        "SummarizeRollback",
        "ReportRollback",
        "RolledBack",
    ]


def test_a_transient_payment_error_is_retried_and_the_order_goes_through(saga: Saga):
    execution = saga.executions["retried"]
    assert execution["status"] == "SUCCEEDED"
    events = saga.history(execution["executionArn"])
    lambda_outcomes = [e["type"] for e in events if e["type"] in ("LambdaFunctionFailed", "LambdaFunctionSucceeded")]
    assert lambda_outcomes.count("LambdaFunctionFailed") == 1
    (failed,) = [e for e in events if e["type"] == "LambdaFunctionFailed"]
    assert failed["lambdaFunctionFailedEventDetails"]["error"] == "PaymentProviderUnavailable"
    assert saga.item("payments", "pk", "OUTAGE#charge#flaky-1")["remaining"] == "0"
    assert saga.item("payments", "pk", "CHARGE#flaky-1")["status"] == "CHARGED"
    assert saga.item("orders", "order_id", "flaky-1")["status"] == "SHIPPING_SCHEDULED"


def test_a_failing_compensation_fails_the_run_says_why_and_reports_the_metric(saga: Saga):
    execution = saga.executions["stuck"]
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Saga.CompensationFailed"
    cause = execution["cause"]
    assert cause.startswith("Step ScheduleShipping failed (ShippingUnavailable: ")
    failures = cause.split("compensations that failed too, by step: ", 1)[1].rsplit(": the saga", 1)[0]
    assert list(json.loads(failures)) == ["ChargePayment"]
    assert json.loads(failures)["ChargePayment"]["Error"] == "PaymentProviderUnavailable"
    assert cause.endswith("needs manual repair")
    # Every other compensation still ran: only the charge is left for a human.
    assert saga.item("orders", "order_id", "stuck-1")["status"] == "FAILED"
    assert saga.item("inventory", "pk", "RESERVATION#stuck-1")["status"] == "RELEASED"
    assert saga.item("payments", "pk", "CHARGE#stuck-1")["status"] == "CHARGED"
    # The alarm's metric, put by the run itself, for this state machine.
    cloudwatch = local_client("cloudwatch", saga.endpoint)
    (metric,) = cloudwatch.list_metrics(Namespace="ServerlessPatterns/Saga", MetricName="CompensationFailed")["Metrics"]
    machine = execution["stateMachineArn"].rsplit(":", 1)[1]
    assert metric["Dimensions"] == [{"Name": "StateMachine", "Value": machine}]
    # Rollbacks count as expected failures, which the failed-runs alarm subtracts.
    (rolled_back,) = cloudwatch.list_metrics(Namespace="ServerlessPatterns/Saga", MetricName="RolledBack")["Metrics"]
    assert rolled_back["Dimensions"] == [{"Name": "StateMachine", "Value": machine}]


def test_a_step_that_wrote_then_failed_is_compensated_too(saga: Saga):
    execution = saga.executions["lost"]
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Saga.RolledBack"
    assert execution["cause"].startswith("Step ChargePayment failed (PaymentProviderUnavailable: ")
    assert saga.item("payments", "pk", "CHARGE#lost-1")["status"] == "REFUNDED"  # the money went back
    assert saga.item("inventory", "pk", "RESERVATION#lost-1")["status"] == "RELEASED"
    assert saga.item("orders", "order_id", "lost-1")["status"] == "FAILED"


def test_a_second_run_for_an_order_fails_without_undoing_the_first(saga: Saga):
    execution = saga.executions["again"]
    assert execution["status"] == "FAILED"
    assert execution["cause"].startswith("Step PlaceOrder failed (ConflictingRun: ")
    assert saga.item("orders", "order_id", "ok-1")["status"] == "SHIPPING_SCHEDULED"
    assert saga.item("inventory", "pk", "RESERVATION#ok-1")["status"] == "RESERVED"
    assert saga.item("payments", "pk", "CHARGE#ok-1")["status"] == "CHARGED"


def test_stock_is_back_for_every_run_that_did_not_ship(saga: Saga):
    assert saga.item("inventory", "pk", "SKU#lamp")["available"] == str(STOCK - 2)  # ok-1 shipped 2
    assert saga.item("inventory", "pk", "SKU#desk")["available"] == str(STOCK - 1)  # flaky-1 shipped 1


def test_a_business_key_starts_one_run_only(saga: Saga):
    # Step Functions (Standard) refuses a name it has seen, once the run closed or with another input: 409.
    for order in (ORDERS["shipped"], {**ORDERS["shipped"], "amount": 41}):
        status, body = saga.start(order)
        assert status == 409 and "Already Exists" in body["message"]
    assert saga.item("orders", "order_id", "ok-1")["amount"] == "40"


def test_the_run_names_the_state_machine_it_executes(saga: Saga):
    machine = saga.executions["shipped"]["stateMachineArn"]
    assert any(line.endswith(f": {machine}") and "state machine" in line for line in saga.lines)  # type: ignore[attr-defined]


def test_the_request_model_is_enforced_before_anything_starts(saga: Saga):
    status, body = saga.start({**ORDERS["shipped"], "order_id": "has space"})
    assert (status, body) == (400, {"message": "Invalid request body"})
    unsigned = {"Content-Type": "application/json"}
    status, _, _ = request(saga.api.url, "POST", "/orders", unsigned, json.dumps(ORDERS["shipped"]).encode())
    assert status == 403
