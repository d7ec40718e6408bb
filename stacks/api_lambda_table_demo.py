"""The items REST API: API Gateway -> Lambda -> DynamoDB, IAM-authorized."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from patterns import ApiLambdaTable


class ApiLambdaTableDemo(Stack):
    """The bundled items handler behind a REST API; callers sign requests with SigV4."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.items = ApiLambdaTable(self, "Items", table_removal_policy=RemovalPolicy.DESTROY)
        CfnOutput(self, "ItemsUrl", value=f"{self.items.url}items")
