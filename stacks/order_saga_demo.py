"""An order saga: place the order -> reserve stock -> charge the card -> schedule shipping; undone in reverse on failure."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from patterns import SagaApiOptions, SagaRetry, SagaStep, SagaWorkflow, SecureTable, bundled_code

#: The stub payment provider declines charges above this amount.
PAYMENT_LIMIT = "1000"
ORDER_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="Order",
    type=apigw.JsonSchemaType.OBJECT,
    properties={
        "order_id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern="^[A-Za-z0-9_-]{1,64}$"),
        "sku": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern="^[A-Za-z0-9_-]{1,64}$"),
        "quantity": apigw.JsonSchema(type=apigw.JsonSchemaType.INTEGER, minimum=1, maximum=1000),
        "amount": apigw.JsonSchema(type=apigw.JsonSchemaType.NUMBER, exclusive_minimum=True, minimum=0),
        "country": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern="^[A-Z]{2}$"),
    },
    required=["order_id", "sku", "quantity", "amount", "country"],
    additional_properties=False,
)
# Short waits (1 s, then 2 s, full jitter) so that a run, and a local run, shows its retries within seconds;
# the construct's defaults (2 s doubling, 3 and 5 retries) suit a production payment provider better.
# The handlers' own transient errors: the stub provider's outage and a DynamoDB transaction conflict.
_RETRY = SagaRetry(
    extra_errors=("PaymentProviderUnavailable", "ConcurrentUpdate"), interval=Duration.seconds(1), max_attempts=2
)
_COMPENSATION_RETRY = SagaRetry(errors=("States.ALL",), interval=Duration.seconds(1), max_attempts=2)


class OrderSagaDemo(Stack):
    """POST /orders -> saga: PlaceOrder -> ReserveInventory -> ChargePayment -> ScheduleShipping."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.orders = self._table("Orders", "order_id")
        self.inventory = self._table("Inventory", "pk")
        self.payments = self._table("Payments", "pk")
        code = bundled_code("order_saga")
        orders = {"ORDERS_TABLE": self.orders.table_name}
        inventory = {"INVENTORY_TABLE": self.inventory.table_name}
        payments = {"PAYMENTS_TABLE": self.payments.table_name, "PAYMENT_LIMIT": PAYMENT_LIMIT}

        def step(name: str, environment: dict[str, str], action: str, compensation: str | None = None) -> SagaStep:
            return SagaStep(
                name,
                action_code=code,
                action_handler=f"app.{action}",
                compensation_code=code if compensation else None,
                compensation_handler=f"app.{compensation}" if compensation else "app.handler",
                environment=environment,
            )

        self.saga = SagaWorkflow(
            self,
            "OrderSaga",
            steps=[
                step("PlaceOrder", orders, "place_order", "fail_order"),
                step("ReserveInventory", inventory, "reserve_inventory", "release_inventory"),
                step("ChargePayment", payments, "charge_payment", "refund_payment"),
                step("ScheduleShipping", orders, "schedule_shipping"),
            ],
            retry=_RETRY,
            compensation_retry=_COMPENSATION_RETRY,
            removal_policy=RemovalPolicy.DESTROY,
            start_api=SagaApiOptions(request_schema=ORDER_SCHEMA, business_key="order_id", resource_path="orders"),
        )
        place, reserve, charge, ship = self.saga.steps
        # The first three steps were given their compensations above.
        assert place.compensation is not None and reserve.compensation is not None and charge.compensation is not None
        self.orders.grant(place.action, "dynamodb:PutItem", "dynamodb:GetItem")
        self.orders.grant(place.compensation, "dynamodb:UpdateItem")
        self.orders.grant(ship.action, "dynamodb:UpdateItem")
        self.inventory.grant(reserve.action, "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem")
        self.inventory.grant(reserve.compensation, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem")
        self.payments.grant(charge.action, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
        self.payments.grant(charge.compensation, "dynamodb:UpdateItem")

        assert self.saga.start_api is not None
        CfnOutput(self, "OrdersUrl", value=self.saga.start_api.url)
        CfnOutput(self, "StateMachineArn", value=self.saga.state_machine.state_machine_arn)

    def _table(self, id: str, key: str) -> dynamodb.Table:
        return SecureTable(
            self,
            id,
            partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
            removal_policy=RemovalPolicy.DESTROY,
        ).table
