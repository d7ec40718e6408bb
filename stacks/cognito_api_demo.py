"""The items API behind Cognito: read/write scopes per method, and only admins may delete."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from patterns import CognitoProtectedApi


class CognitoApiDemo(Stack):
    """Users sign in to a user pool; the items API checks their access token's scopes."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.items = CognitoProtectedApi(
            self, "Items", removal_policy=RemovalPolicy.DESTROY, table_removal_policy=RemovalPolicy.DESTROY
        )
        CfnOutput(self, "ItemsUrl", value=f"{self.items.api.url}items")
        CfnOutput(self, "UserPoolId", value=self.items.user_pool.user_pool_id)
        CfnOutput(self, "AppClientId", value=self.items.app_client.user_pool_client_id)
