"""One service from all four patterns: a Cognito-protected items API served through a canary,
whose every change becomes an event fanned out to an audit trail and a deletion notifier."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sns as sns
from constructs import Construct

from patterns import (
    ITEMS_SMOKE_TEST_EVENT,
    CanaryFunction,
    CognitoProtectedApi,
    FanoutQueue,
    SecureTable,
    TableEventPublisher,
    bundled_code,
    items_handler_environment,
)

from .cognito_api_demo import LOOPBACK_CALLBACK_URLS, LOOPBACK_LOGOUT_URLS, sign_in_domain_prefix, sign_in_outputs

ADMINS = "admins"


class ItemsServiceDemo(Stack):
    """Sign-in -> API (scopes) -> canary alias -> items table -> stream -> events -> audit / notifier."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.table = SecureTable(
            self, "Items", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES, removal_policy=RemovalPolicy.DESTROY
        )
        self.function = CanaryFunction(
            self,
            "ItemsFunction",
            code=bundled_code("items_api"),
            environment=items_handler_environment(self.table.table, admin_group=ADMINS),
            pre_traffic_hook=True,
            smoke_payload=ITEMS_SMOKE_TEST_EVENT,
            expected_status_code=200,
        )
        self.api = CognitoProtectedApi(
            self,
            "Api",
            function=self.function.alias,
            table=self.table.table,
            admin_group=ADMINS,
            domain_prefix=sign_in_domain_prefix(self, "items-service"),
            callback_urls=LOOPBACK_CALLBACK_URLS,
            logout_urls=LOOPBACK_LOGOUT_URLS,
            removal_policy=RemovalPolicy.DESTROY,
        )

        self.events = FanoutQueue(self, "ItemEvents", removal_policy=RemovalPolicy.DESTROY)
        self.audit = self.events.add_subscriber("Audit", idempotency_key_field="event_id")
        self.notifier = self.events.add_subscriber(
            "Notifier",
            idempotency_key_field="event_id",
            filter_policy={"event_type": sns.SubscriptionFilter.string_filter(allowlist=["item.deleted"])},
        )
        self.changes = TableEventPublisher(
            self, "Changes", table=self.table.table, topic=self.events.topic, encryption_key=self.events.key
        )

        CfnOutput(self, "ItemsUrl", value=f"{self.api.api.url}items")
        CfnOutput(self, "UserPoolId", value=self.api.user_pool.user_pool_id)
        sign_in_outputs(self, self.api)
        if self.audit.table is None:  # idempotency_key_field= gives the subscriber its table
            raise ValueError("the Audit subscriber has no idempotency table")
        CfnOutput(self, "AuditTableName", value=self.audit.table.table_name)
