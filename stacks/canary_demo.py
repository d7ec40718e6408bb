"""The items API served through a canary alias: each new version gets 10% for 5 minutes first."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from patterns import ApiLambdaTable, CanaryFunction, SecureTable, bundled_code, items_handler_environment

# What the smoke test sends each new version before it takes traffic: a one-item list request.
LIST_ONE_ITEM = {
    "resource": "/items",
    "path": "/items",
    "httpMethod": "GET",
    "headers": {"Accept": "application/json"},
    "queryStringParameters": {"limit": "1"},
    "pathParameters": None,
    "requestContext": {"requestId": "canary-smoke-test", "resourcePath": "/items", "httpMethod": "GET", "stage": "prod"},
    "body": None,
    "isBase64Encoded": False,
}


class CanaryDemo(Stack):
    """API -> canary alias (CodeDeploy, alarm rollback, smoke-tested) -> items handler -> table."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.table = SecureTable(self, "Items", removal_policy=RemovalPolicy.DESTROY)
        self.canary = CanaryFunction(
            self,
            "ItemsFunction",
            code=bundled_code("items_api"),
            environment=items_handler_environment(self.table.table),
            pre_traffic_hook=True,
            smoke_payload=LIST_ONE_ITEM,
            expected_status_code=200,
        )
        self.api = ApiLambdaTable(self, "ItemsApi", function=self.canary.alias, table=self.table.table)
        CfnOutput(self, "ItemsUrl", value=f"{self.api.url}items")
