"""Topic -> queue (+DLQ) -> function -> table, each from the secure building blocks."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from constructs import Construct

from patterns import SecureFunction, SecureQueue, SecureTable, SecureTopic, bundled_code

_FUNCTION_TIMEOUT = Duration.seconds(10)


class BuildingBlocksDemo(Stack):
    """Events published to a topic are recorded, once each, in a table."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.topic = SecureTopic(self, "Events")
        self.inbox = SecureQueue(self, "Inbox", visibility_timeout=Duration.seconds(_FUNCTION_TIMEOUT.to_seconds() * 6))
        self.table = SecureTable(self, "Records", removal_policy=RemovalPolicy.DESTROY)
        self.recorder = SecureFunction(
            self,
            "Recorder",
            code=bundled_code("event_recorder"),
            timeout=_FUNCTION_TIMEOUT,
            environment={"TABLE_NAME": self.table.table.table_name},
        )

        self.inbox.subscribe(self.topic.topic)
        self.inbox.add_consumer(self.recorder.function, batch_size=10)
        self.table.table.grant(self.recorder.function, "dynamodb:PutItem")
