"""A nightly job on EventBridge Scheduler: purge the expired items of a table, write a daily summary row."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from patterns import ScheduledJob, SecureTable, bundled_code

#: 03:30 in Berlin: after the night's DST changes (02:00-03:00), so the job runs every day of the year.
NIGHTLY = "cron(30 3 * * ? *)"
TIME_ZONE = "Europe/Berlin"


class ScheduledJobDemo(Stack):
    """Items with an expiry; a scheduled job that runs once per night and pages when it stops."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.items = SecureTable(
            self, "Items", time_to_live_attribute="expires_at", removal_policy=RemovalPolicy.DESTROY
        )
        self.purge = ScheduledJob(
            self,
            "NightlyPurge",
            schedule=NIGHTLY,
            time_zone=TIME_ZONE,
            code=bundled_code("scheduled_job"),
            environment={"ITEMS_TABLE_NAME": self.items.table.table_name},
            payload={"job": "purge-expired-items"},
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.items.table.grant(self.purge.function, "dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:UpdateItem")
        CfnOutput(self, "ScheduleName", value=self.purge.schedule.schedule_name)
        CfnOutput(self, "ItemsTableName", value=self.items.table.table_name)
