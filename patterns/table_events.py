"""A table's stream -> a topic: every change to an item becomes an event, without a dual write."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from constructs import Construct

from .blocks import SecureFunction, acknowledge, bundled_code, threshold_alarm
from .blocks.managed_policies import separate_policy
from .blocks.queue import dead_letter_alarm, standalone_dead_letter_queue
from .blocks.topic import grant_publish

#: The ``event_type`` message attribute of each change, by the stream's ``eventName``.
EVENT_TYPES = {"INSERT": "item.created", "MODIFY": "item.updated", "REMOVE": "item.deleted"}


def grant_list_streams(scope: Construct, role: iam.IRole, id: str = "StreamListingPolicy") -> Construct:
    """Let ``role`` call ``dynamodb:ListStreams``, which Lambda's polling of a table's stream calls.

    The action takes no resource, so it sits in a policy of its own (made under ``scope``; a managed
    one under the strict profile) whose wildcard acknowledgement cannot cover any other grant of the
    role. Returns the policy: make the event source mapping depend on it.
    """
    listing = separate_policy(
        scope,
        id,
        statements=[iam.PolicyStatement(actions=["dynamodb:ListStreams"], resources=["*"])],
        roles=[role],
    )
    acknowledge(
        listing,
        "AwsSolutions-IAM5",
        "dynamodb:ListStreams supports no resource-level permissions; Lambda's stream polling calls it.",
        findings=["Resource::*"],
    )
    return listing


class TableEventPublisher(Construct):
    """Publish ``item.created`` / ``item.updated`` / ``item.deleted`` events from a table's stream.

    The table must have a stream with new and old images (``SecureTable(stream=
    StreamViewType.NEW_AND_OLD_IMAGES)``). A bridge function (``lambda_src/stream_publisher``)
    reads the stream and publishes one message per change, with the change type as the
    ``event_type`` message attribute (for subscription filter policies) and the event id, keys
    and both images in the body. Subscribers should use ``event_id`` as their idempotency key:
    stream records can be delivered more than once.

    Failures lose nothing: a failing batch is split in two (bisect on error) to isolate the bad
    record, retried ``retry_attempts`` times, and then described in ``dead_letter_queue`` (the
    on-failure destination) for a replay from the stream within its 24-hour retention.

    Attributes:
        function / secure_function: the bridge.
        event_source_mapping: stream -> bridge.
        dead_letter_queue: on-failure destination; ``dead_letter_alarm`` fires on its first message.
        stream_listing_policy: the bridge's ``dynamodb:ListStreams`` policy, apart from its other
            grants: an ``iam.Policy``, or an ``iam.ManagedPolicy`` under the strict compliance profile.
        iterator_age_alarm: the bridge falls behind the stream by more than ``max_iterator_age``.
        errors_alarm, and ``alarms``.

    Args:
        table: the table; it must have a stream. When it has a customer-managed key
            (``table.encryption_key``), the bridge gets ``kms:Decrypt`` on it to read the stream.
        topic: where events go. A FIFO topic works too: each message then carries a
            ``MessageGroupId`` per item (a digest of its keys: one item's changes stay in order)
            and the stream record's event id as ``MessageDeduplicationId``. (An imported FIFO
            topic must be imported with an ARN whose name ends in ``.fifo``.)
        encryption_key: the topic's KMS key, if it has one (e.g. ``FanoutQueue.key``); the bridge
            gets ``kms:GenerateDataKey`` and ``kms:Decrypt`` on it. Default: the topic's
            ``master_key`` (known for a topic made in the app or imported with its key).
        batch_size: records per invocation (1..1000). Default 100.
        max_batching_window: wait up to this to fill a batch. Default none.
        retry_attempts: retries of a failing batch before it goes to the DLQ (0..10). Default 3.
        max_record_age: older records go to the DLQ unprocessed (1 minute..7 days). Default 1 day.
        parallelization_factor: concurrent batches per shard (1..10). Default 1 (in order per item).
        max_iterator_age: threshold of ``iterator_age_alarm``. Default 5 minutes.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITable,
        topic: sns.ITopic,
        encryption_key: kms.IKey | None = None,
        batch_size: int = 100,
        max_batching_window: Duration | None = None,
        retry_attempts: int = 3,
        max_record_age: Duration = Duration.days(1),
        parallelization_factor: int = 1,
        max_iterator_age: Duration = Duration.minutes(5),
    ) -> None:
        super().__init__(scope, id)
        if not table.table_stream_arn:
            raise ValueError(
                "the table has no stream: create it with stream=StreamViewType.NEW_AND_OLD_IMAGES "
                "(an imported table needs table_stream_arn)"
            )
        if not 1 <= batch_size <= 1000:
            raise ValueError(f"batch_size must be between 1 and 1000, got {batch_size}")
        if not 0 <= retry_attempts <= 10:
            raise ValueError(f"retry_attempts must be between 0 and 10, got {retry_attempts}")
        if not 60 <= max_record_age.to_seconds() <= Duration.days(7).to_seconds():
            raise ValueError("max_record_age must be between 1 minute and 7 days")
        if not 1 <= parallelization_factor <= 10:
            raise ValueError(f"parallelization_factor must be between 1 and 10, got {parallelization_factor}")
        if max_iterator_age.to_seconds() <= 0:
            raise ValueError("max_iterator_age must be positive")

        self.secure_function = SecureFunction(
            self,
            "Bridge",
            code=bundled_code("stream_publisher"),
            timeout=Duration.seconds(30),
            # A FIFO topic refuses a message without a group: the handler must know to add one.
            environment={"TOPIC_ARN": topic.topic_arn, **({"TOPIC_FIFO": "true"} if topic.fifo else {})},
            description="Publishes each change of the table's items to the topic",
            service_name=id,
        )
        self.function = self.secure_function.function
        # Exact grants: publish to this topic, with its key if it has one.
        grant_publish(self.function, topic, encryption_key)

        self.dead_letter_queue = standalone_dead_letter_queue(
            self,
            "FailedRecords",
            dead_letter_queue_of="the stream mapping's on-failure destination, itself the dead-letter queue of the bridge",
        )
        self.dead_letter_alarm = dead_letter_alarm(self, self.dead_letter_queue)
        self.stream_listing_policy = self._grant_stream_read(table, table.table_stream_arn)
        self.event_source_mapping = lambda_.EventSourceMapping(
            self,
            "StreamSource",
            target=self.function,
            event_source_arn=table.table_stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            bisect_batch_on_error=True,
            retry_attempts=retry_attempts,
            max_record_age=max_record_age,
            parallelization_factor=parallelization_factor,
            report_batch_item_failures=True,
            on_failure=sources.SqsDlq(self.dead_letter_queue),
        )
        # Lambda checks the role can read the stream when the mapping is created.
        self.event_source_mapping.node.add_dependency(self.stream_listing_policy)

        self.errors_alarm = self.secure_function.errors_alarm
        self.iterator_age_alarm = threshold_alarm(
            self,
            "IteratorAgeAlarm",
            self.function.metric("IteratorAge", period=Duration.minutes(1), statistic="Maximum"),
            threshold=max_iterator_age.to_milliseconds(),
            description=f"{self.node.path}: the bridge is more than {max_iterator_age.to_seconds()} s behind the stream",
        )

    def _grant_stream_read(self, table: dynamodb.ITable, stream_arn: str) -> Construct:
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            resource_arns=[stream_arn],
        )
        # A stream of a table with its own key is encrypted with that key: reading it needs Decrypt.
        if table.encryption_key is not None:
            table.encryption_key.grant_decrypt(self.function)
        return grant_list_streams(self, self.function.role)  # type: ignore[arg-type]

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm of the bridge."""
        return [
            self.errors_alarm,
            self.dead_letter_alarm,
            self.iterator_age_alarm,
            self.secure_function.throttles_alarm,
        ]
