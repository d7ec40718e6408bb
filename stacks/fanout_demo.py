"""Order events fanned out to billing (every event) and shipping (shipped orders only)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_sns as sns
from constructs import Construct

from patterns import FanoutQueue

#: Publishers give each order event its own id and keep it when they retry; the consumers key on it.
#: (Keying on ``order_id`` would drop every event of an order after its first.)
EVENT_ID = "event_id"


class FanoutDemo(Stack):
    """One topic, two subscribers with their own queue, DLQ and idempotent consumer."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.orders = FanoutQueue(self, "Orders", removal_policy=RemovalPolicy.DESTROY)
        self.orders.add_subscriber("Billing", idempotency_key_field=EVENT_ID)
        self.orders.add_subscriber(
            "Shipping",
            idempotency_key_field=EVENT_ID,
            filter_policy={"event_type": sns.SubscriptionFilter.string_filter(allowlist=["order.shipped"])},
        )
        CfnOutput(self, "TopicArn", value=self.orders.topic.topic_arn)
