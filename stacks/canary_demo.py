"""The items API served through a canary alias: each new version gets 10% for 5 minutes first."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from patterns import (
    ITEMS_SMOKE_TEST_EVENT,
    ApiLambdaTable,
    CanaryFunction,
    SecureTable,
    bundled_code,
    items_handler_environment,
)


class CanaryDemo(Stack):
    """API -> canary alias (CodeDeploy, alarm rollback, smoke-tested) -> items handler -> table."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.table = SecureTable(self, "Items", removal_policy=RemovalPolicy.DESTROY)
        self.canary = CanaryFunction(
            self,
            "ItemsFunction",
            code=bundled_code("items_api"),
            environment=items_handler_environment(self.table.table),
            pre_traffic_hook=True,
            smoke_payload=ITEMS_SMOKE_TEST_EVENT,
            expected_status_code=200,
        )
        self.api = ApiLambdaTable(self, "ItemsApi", function=self.canary.alias, table=self.table.table)
        CfnOutput(self, "ItemsUrl", value=f"{self.api.url}items")
