"""An SQS queue that never loses a message: encrypted, SSL-only, with its own dead-letter queue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..compliance import is_strict
from .alarms import threshold_alarm
from .nag import acknowledge

_MAX_RETENTION = Duration.days(14)
#: AWS advises a queue's visibility timeout of at least six times its consumer's timeout.
VISIBILITY_TO_FUNCTION_TIMEOUT = 6


class SecureQueue(Construct):
    """A queue plus the dead-letter queue its failed messages move to.

    What it makes:
      * ``queue``: the working queue (SSL-only, encrypted, redrive to the DLQ);
      * ``dead_letter_queue``: keeps failed messages for 14 days (same encryption; under the
        strict profile with a ``RedriveAllowPolicy`` of ``allowAll``, see ``_redrive_allowed``);
      * ``dead_letter_alarm``: fires when the DLQ holds any message;
      * ``message_age_alarm``: fires when the oldest message waits longer than
        ``max_message_age``.

    Args:
        visibility_timeout: how long a received message stays hidden. For a Lambda consumer
            use at least 6x the function timeout (``add_consumer`` checks). Default 60 seconds,
            which fits a ``SecureFunction`` with its default 10-second timeout.
        max_receive_count: receives before a message moves to the DLQ (>= 1). Default 5.
        retention_period: how long the working queue keeps a message (60 s..14 days). Default 4 days.
        encryption_key: a customer-managed KMS key for both queues. Default: SQS-managed SSE.
        fifo: make both queues FIFO. Default False.
        content_based_deduplication: FIFO only. Default False.
        max_message_age: threshold of ``message_age_alarm``, below ``retention_period``.
            Default 15 minutes.
        removal_policy: for both queues. Default DESTROY (messages are transient).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        visibility_timeout: Duration = Duration.seconds(60),
        max_receive_count: int = 5,
        retention_period: Duration = Duration.days(4),
        encryption_key: kms.IKey | None = None,
        fifo: bool = False,
        content_based_deduplication: bool = False,
        max_message_age: Duration = Duration.minutes(15),
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, id)
        if max_receive_count < 1:
            raise ValueError(f"max_receive_count must be at least 1, got {max_receive_count}")
        if not 0 <= visibility_timeout.to_seconds() <= Duration.hours(12).to_seconds():
            raise ValueError("visibility_timeout must be between 0 seconds and 12 hours")
        if not 60 <= retention_period.to_seconds() <= _MAX_RETENTION.to_seconds():
            raise ValueError("retention_period must be between 60 seconds and 14 days")
        if content_based_deduplication and not fifo:
            raise ValueError("content_based_deduplication needs fifo=True")
        if max_message_age.to_seconds() >= retention_period.to_seconds():
            raise ValueError("max_message_age must be shorter than retention_period, or its alarm could never fire")

        common = dict(
            enforce_ssl=True,
            removal_policy=removal_policy,
            fifo=fifo or None,
            content_based_deduplication=content_based_deduplication or None,
            **_encryption(encryption_key),
        )
        self.dead_letter_queue = sqs.Queue(
            self, "DeadLetterQueue", retention_period=_MAX_RETENTION, **common, **_redrive_allowed(self)
        )
        _acknowledge_is_dead_letter_queue(self.dead_letter_queue)
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=visibility_timeout,
            retention_period=retention_period,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=max_receive_count),
            **common,
        )
        self.visibility_timeout = visibility_timeout
        self.fifo = fifo
        self.dead_letter_alarm = dead_letter_alarm(self, self.dead_letter_queue)
        self.message_age_alarm = threshold_alarm(
            self,
            "MessageAgeAlarm",
            self.queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(1), statistic="Maximum"),
            threshold=max_message_age.to_seconds(),
            description=f"{self.node.path}: messages wait longer than {max_message_age.to_seconds()} s",
        )

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        return [self.dead_letter_alarm, self.message_age_alarm]

    def subscribe(
        self,
        topic: sns.ITopic,
        *,
        raw_message_delivery: bool = True,
        filter_policy: Mapping[str, sns.SubscriptionFilter] | None = None,
        filter_policy_with_message_body: Mapping[str, sns.FilterOrPolicy] | None = None,
    ) -> sns.Subscription:
        """Subscribe the queue to ``topic``; what SNS cannot deliver goes to this queue's DLQ.

        The queue policy lets only ``topic`` send. Give ``filter_policy`` (message attributes)
        or ``filter_policy_with_message_body``, not both.
        """
        if filter_policy and filter_policy_with_message_body:
            raise ValueError("give filter_policy or filter_policy_with_message_body, not both")
        return topic.add_subscription(
            subscriptions.SqsSubscription(
                self.queue,
                raw_message_delivery=raw_message_delivery,
                filter_policy=filter_policy,
                filter_policy_with_message_body=filter_policy_with_message_body,
                dead_letter_queue=self.dead_letter_queue,
            )
        )

    def add_consumer(
        self,
        function: lambda_.IFunction,
        *,
        id: str = "Consumer",
        batch_size: int = 10,
        max_batching_window: Duration | None = None,
        max_concurrency: int | None = None,
    ) -> lambda_.EventSourceMapping:
        """Have ``function`` consume the queue, reporting failed records one by one.

        ``report_batch_item_failures`` is always on: only the records the function reports
        as failed return to the queue (and, after ``max_receive_count``, to the DLQ). The
        function may consume this queue and nothing else of it.

        Under the strict profile, when ``max_concurrency`` is not given and the function has a
        reserved concurrency (``SecureFunction`` reserves one there), the mapping's maximum
        concurrency is that reservation (at least 2): pollers beyond it would only be throttled,
        and a throttled batch returns to the queue and counts towards ``max_receive_count``.
        """
        if max_concurrency is None and is_strict(self):
            reserved = reserved_concurrency(function)
            if reserved is not None and reserved >= 2:
                max_concurrency = min(reserved, 1000)
        if not 1 <= batch_size <= 10_000:
            raise ValueError(f"batch_size must be between 1 and 10000, got {batch_size}")
        if batch_size > 10 and max_batching_window is None:
            raise ValueError("a batch_size over 10 needs a max_batching_window")
        if max_concurrency is not None and not 2 <= max_concurrency <= 1000:
            raise ValueError(f"max_concurrency must be between 2 and 1000, got {max_concurrency}")
        if self.fifo and (batch_size > 10 or max_batching_window is not None):
            raise ValueError("a FIFO queue's consumer takes batches of at most 10 and no max_batching_window")
        timeout = function_timeout(function)
        if timeout is not None and (
            self.visibility_timeout.to_seconds() < VISIBILITY_TO_FUNCTION_TIMEOUT * timeout.to_seconds()
        ):
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout.to_seconds()} s) must be at least "
                f"{VISIBILITY_TO_FUNCTION_TIMEOUT}x the consumer's timeout ({timeout.to_seconds()} s)"
            )
        mapping = lambda_.EventSourceMapping(
            self,
            id,
            target=function,
            event_source_arn=self.queue.queue_arn,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            max_concurrency=max_concurrency,
            report_batch_item_failures=True,
        )
        self.queue.grant_consume_messages(function)
        acknowledge(
            mapping,
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event source mappings take no on-failure destination; a record that keeps failing "
            "moves to the queue's dead-letter queue through its redrive policy.",
        )
        return mapping


def function_timeout(function: lambda_.IFunction) -> Duration | None:
    """The timeout of ``function``, of an alias's or version's function, or None if unknown (imported)."""
    return getattr(function_behind(function), "timeout", None)


def reserved_concurrency(function: lambda_.IFunction) -> int | None:
    """The reserved concurrency of ``function`` (or of an alias's or version's function), or None."""
    cfn_function = function_behind(function).node.default_child
    value = cfn_function.reserved_concurrent_executions if isinstance(cfn_function, lambda_.CfnFunction) else None
    return value if isinstance(value, int) else None


def function_behind(function: lambda_.IFunction) -> lambda_.IFunction:
    """The function an alias or version runs (through the alias's version), else ``function`` itself."""
    if isinstance(function, lambda_.Alias):
        function = function.version
    if isinstance(function, lambda_.Version):
        function = function.lambda_
    return function


def standalone_dead_letter_queue(
    scope: Construct, id: str, *, encryption_key: kms.IKey | None = None, dead_letter_queue_of: str | None = None
) -> sqs.Queue:
    """A dead-letter queue for failures that are not another queue's messages (14 days, encrypted, SSL-only).

    E.g. a function's failed asynchronous events. Pair it with ``dead_letter_alarm``. cdk-nag sees a
    queue named by another queue's redrive policy or by a function's DLQ config as a dead-letter
    queue; for any other use (an event source mapping's on-failure destination, a subscription's
    DLQ) say what it is the dead-letter queue of, ``dead_letter_queue_of``, and its AwsSolutions-SQS3
    finding is acknowledged with that as the reason ("This queue is <dead_letter_queue_of>.").
    """
    queue = sqs.Queue(
        scope,
        id,
        retention_period=_MAX_RETENTION,
        enforce_ssl=True,
        removal_policy=RemovalPolicy.DESTROY,
        **_encryption(encryption_key),
        **_redrive_allowed(scope),
    )
    _acknowledge_is_dead_letter_queue(queue)
    if dead_letter_queue_of is not None:
        acknowledge(queue, "AwsSolutions-SQS3", f"This queue is {dead_letter_queue_of}.")
    return queue


def dead_letter_alarm(scope: Construct, queue: sqs.IQueue, *, id: str = "DeadLetterAlarm") -> cloudwatch.Alarm:
    """Alarm as soon as ``queue`` (a dead-letter queue) holds a message."""
    return threshold_alarm(
        scope,
        id,
        queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Maximum"),
        threshold=1,
        description=f"{queue.node.path}: failed messages are waiting in the dead-letter queue",
    )


def _encryption(key: kms.IKey | None) -> dict[str, Any]:
    if key is None:
        return {"encryption": sqs.QueueEncryption.SQS_MANAGED}
    return {"encryption": sqs.QueueEncryption.KMS, "encryption_master_key": key}


def _redrive_allowed(scope: Construct) -> dict[str, Any]:
    """Under the strict profile, a dead-letter queue says so: a ``RedriveAllowPolicy`` (Control Tower's
    CT.SQS.PR.1 accepts ``allowAll`` or ``byQueue`` on a queue without a redrive policy of its own).

    ``allowAll`` (any queue of this account and region may name it as its DLQ), because ``byQueue``
    cannot be had: it must list the source queue's ARN, while the source queue's redrive policy
    names this queue's ARN, a circular reference CloudFormation refuses (the queues' names are
    generated, so neither ARN is known beforehand); and a function's or subscription's DLQ has no
    source queue to list at all.
    """
    if not is_strict(scope):
        return {}
    return {"redrive_allow_policy": sqs.RedriveAllowPolicy(redrive_permission=sqs.RedrivePermission.ALLOW_ALL)}


def _acknowledge_is_dead_letter_queue(queue: sqs.Queue) -> None:
    acknowledge(
        queue,
        "Serverless-SQSRedrivePolicy",
        "This queue is itself a dead-letter queue, the last stop for failed messages; it has no DLQ of its own.",
    )
