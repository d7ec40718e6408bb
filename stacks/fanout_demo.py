"""Order events fanned out to billing (every event) and shipping (shipped orders only)."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack, aws_sns as sns
from constructs import Construct

from patterns import FanoutQueue


class FanoutDemo(Stack):
    """One topic, two subscribers with their own queue, DLQ and idempotent consumer."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.orders = FanoutQueue(self, "Orders", removal_policy=RemovalPolicy.DESTROY)
        self.orders.add_subscriber("Billing", idempotency_key_field="order_id")
        self.orders.add_subscriber(
            "Shipping",
            idempotency_key_field="order_id",
            filter_policy={"event_type": sns.SubscriptionFilter.string_filter(allowlist=["order.shipped"])},
        )
        CfnOutput(self, "TopicArn", value=self.orders.topic.topic_arn)
