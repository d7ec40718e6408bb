"""The consumer matrix's SagaWorkflow: code-made and existing (alias) steps, the start API and an event rule."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from patterns import SagaApiOptions, SagaStep, SagaWorkflow, SecureFunction, bundled_code

_ORDER = apigw.JsonSchema(
    type=apigw.JsonSchemaType.OBJECT,
    properties={"order_id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern="^[A-Za-z0-9_-]{1,64}$")},
    required=["order_id"],
)


def saga(scope: Construct) -> SagaWorkflow:
    """A saga whose last step is an existing function's alias, started by an API and by events."""
    code = bundled_code("order_saga")
    shipper = SecureFunction(scope, "Shipper", code=code, handler="app.schedule_shipping").function
    live = lambda_.Alias(scope, "ShipperLive", alias_name="live", version=shipper.current_version)
    return SagaWorkflow(
        scope,
        "Saga",
        steps=[
            SagaStep(
                "Reserve",
                action_code=code,
                action_handler="app.reserve_inventory",
                compensation_code=code,
                compensation_handler="app.release_inventory",
            ),
            SagaStep("Ship", action=live),
        ],
        start_api=SagaApiOptions(request_schema=_ORDER, business_key="order_id"),
        event_pattern=events.EventPattern(source=["shop.orders"]),
    )
