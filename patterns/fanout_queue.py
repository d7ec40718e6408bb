"""SNS -> SQS (+DLQ) -> Lambda: one event published once, processed by every subscriber, nothing lost."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .blocks import SecureFunction, SecureQueue, SecureTable, SecureTopic, bundled_code
from .blocks.alarms import function_errors_alarm
from .blocks.compliance_resources import rotating_key
from .blocks.queue import VISIBILITY_TO_FUNCTION_TIMEOUT, function_timeout
from .blocks.topic import grant_publish

#: DynamoDB actions the bundled consumer calls on its subscriber's table.
CONSUMER_TABLE_ACTIONS = ("dynamodb:PutItem",)
#: DynamoDB actions Powertools' idempotency layer calls on the idempotency table.
IDEMPOTENCY_TABLE_ACTIONS = ("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
_RESTRICT_SNS_KEY_USE = "@aws-cdk/aws-sns-subscriptions:restrictSqsDescryption"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
#: The field of SNS's envelope (raw delivery off) that identifies one publish in every delivery of it.
SNS_MESSAGE_ID_FIELD = "MessageId"


class FanoutSubscriber(Construct):
    """One subscriber of a ``FanoutQueue``: its queue, DLQ, subscription and consumer.

    Attributes:
        name: the subscriber's name.
        queue / dead_letter_queue: the subscriber's queue and the DLQ that receives messages
            the consumer keeps failing and messages SNS could not deliver.
        secure_queue: the ``SecureQueue`` building block.
        subscription: the SNS subscription (raw delivery and filter policy as asked).
        function: the consumer (yours if you passed ``function=``).
        secure_function: the ``SecureFunction`` when this construct made the consumer.
        event_source_mapping: SQS -> function, ``ReportBatchItemFailures`` on.
        table: where the bundled consumer records processed messages (None with your own code).
        dead_letter_alarm, message_age_alarm, errors_alarm, and ``alarms``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topic: sns.ITopic,
        encryption_key: kms.IKey | None,
        fifo: bool,
        content_based_deduplication: bool,
        idempotency_table: dynamodb.ITable | None,
        function: lambda_.IFunction | None = None,
        code: lambda_.Code | None = None,
        handler: str | None = None,
        environment: Mapping[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int | None = None,
        filter_policy: Mapping[str, sns.SubscriptionFilter] | None = None,
        filter_policy_with_message_body: Mapping[str, sns.FilterOrPolicy] | None = None,
        raw_message_delivery: bool = True,
        max_receive_count: int = 5,
        visibility_timeout: Duration | None = None,
        batch_size: int = 10,
        max_batching_window: Duration | None = None,
        max_concurrency: int | None = None,
        idempotency_key_field: str | None = None,
        idempotency_ttl: Duration = Duration.hours(1),
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        self.name = id
        consumer_timeout = timeout or (function_timeout(function) if function else None) or Duration.seconds(30)
        self.secure_queue = SecureQueue(
            self,
            "Inbox",
            visibility_timeout=visibility_timeout
            or Duration.seconds(consumer_timeout.to_seconds() * VISIBILITY_TO_FUNCTION_TIMEOUT),
            max_receive_count=max_receive_count,
            encryption_key=encryption_key,
            fifo=fifo,
            content_based_deduplication=content_based_deduplication,
        )
        self.queue: sqs.Queue = self.secure_queue.queue
        self.dead_letter_queue: sqs.Queue = self.secure_queue.dead_letter_queue
        self.subscription = self.secure_queue.subscribe(
            topic,
            raw_message_delivery=raw_message_delivery,
            filter_policy=filter_policy,
            filter_policy_with_message_body=filter_policy_with_message_body,
        )

        self.table: dynamodb.ITable | None = None
        self.secure_function: SecureFunction | None = None
        if function is None:
            env = dict(environment or {})
            if code is None:
                self.table = SecureTable(self, "Processed", removal_policy=removal_policy).table
                env["TABLE_NAME"] = self.table.table_name
            # The bundled consumer's conditional write is its own guard: it gets the key field only. Own code
            # gets Powertools idempotency's table too.
            if code is not None and idempotency_table is not None:
                env["IDEMPOTENCY_TABLE_NAME"] = idempotency_table.table_name
                env["IDEMPOTENCY_TTL_SECONDS"] = str(int(idempotency_ttl.to_seconds()))
            key_field = idempotency_key_field or (None if raw_message_delivery else SNS_MESSAGE_ID_FIELD)
            if key_field:
                env["IDEMPOTENCY_KEY_FIELD"] = key_field
            self.secure_function = SecureFunction(
                self,
                "Consumer",
                code=code or bundled_code("fanout_consumer"),
                handler=handler or "app.handler",
                timeout=consumer_timeout,
                memory_size=memory_size or 256,
                environment=env,
                service_name=id,
            )
            function = self.secure_function.function
            if self.table is not None:
                self.table.grant(function, *CONSUMER_TABLE_ACTIONS)
            if code is not None and idempotency_table is not None:
                idempotency_table.grant(function, *IDEMPOTENCY_TABLE_ACTIONS)
        self.function = function
        self.event_source_mapping = self.secure_queue.add_consumer(
            function, batch_size=batch_size, max_batching_window=max_batching_window, max_concurrency=max_concurrency
        )

        self.dead_letter_alarm = self.secure_queue.dead_letter_alarm
        self.message_age_alarm = self.secure_queue.message_age_alarm
        self.errors_alarm = (
            self.secure_function.errors_alarm
            if self.secure_function is not None
            else function_errors_alarm(self, "ErrorsAlarm", function)
        )

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm of this subscriber."""
        return [self.dead_letter_alarm, self.message_age_alarm, self.errors_alarm]


class FanoutQueue(Construct):
    """A topic whose every message reaches each subscriber's own queue and consumer.

    With no props it makes the topic; add subscribers with ``add_subscriber(name, ...)`` or the
    ``subscribers`` prop (a mapping of name to the same keyword arguments).

    Attributes:
        topic: the topic (yours if you passed ``topic=``). Let publishers in with
            ``grant_publish(grantee)``.
        key: the topic's customer-managed KMS key (rotation on); None when you pass ``topic``.
        queue_key: the customer-managed KMS key (rotation on) of every subscriber's queue and
            DLQ. Its policy lets SNS use it for this topic only; consumers get ``kms:Decrypt``.
            Under the strict compliance profile a key made here also denies ``kms:CreateGrant``
            unless an AWS service asks for its own resource (a key you pass is left as it is).
        secure_topic: the ``SecureTopic`` building block when this construct made the topic.
        idempotency_table: the table (TTL ``expiration``) for Powertools idempotency, passed to every
            consumer made here from your own ``code`` (``IDEMPOTENCY_TABLE_NAME``, with exactly the
            actions Powertools calls). Made with the first such subscriber; None while every consumer is
            the bundled one, whose conditional write is its own guard and needs no table.
        subscribers: the ``FanoutSubscriber``s by name.

    Args:
        topic: an existing topic. Then ``fifo``, ``content_based_deduplication`` and
            ``encryption_key`` must not be given.
        encryption_key: the topic's KMS key. Default: a new key.
        queue_encryption_key: the queues' KMS key. Default: a new key. (The topic's key cannot
            double as the queues' key: its policy would have to name the topic that names it.)
        fifo: FIFO topic and FIFO queues (ordering per message group). Default False.
        content_based_deduplication: FIFO only. Default False.
        removal_policy: of the tables this construct makes. Default RETAIN.
        subscribers: ``{name: {add_subscriber keyword arguments}}``.

    ``add_subscriber`` keyword arguments:
        function: an existing consumer ``IFunction``; or ``code``/``handler`` for your own code,
            or nothing for the bundled consumer (``lambda_src/fanout_consumer``), which records
            each message once in the subscriber's ``table``.
        environment, timeout (default 30 s), memory_size (default 256): for a consumer made here.
        filter_policy / filter_policy_with_message_body: SNS filter (attributes / body).
        raw_message_delivery: default True (the queue receives the message itself, no envelope).
        max_receive_count: receives before the DLQ. Default 5.
        visibility_timeout: default 6x the consumer's timeout (and never less).
        batch_size (default 10), max_batching_window, max_concurrency: the event source mapping.
        idempotency_key_field: a top-level field of the message body that identifies the
            *event*: an id the publisher gives each event once and keeps when it retries the
            publish (e.g. ``event_id``; ``TableEventPublisher`` events carry one). Never an
            entity key such as ``order_id``: every later event of that order (paid, shipped)
            would be taken for a duplicate, reported as a success and dropped. Default: with raw
            delivery, the SQS message id (catches SQS redeliveries only: a message SNS delivers
            twice, or a publish retried, arrives with a new one); with
            ``raw_message_delivery=False``, the SNS ``MessageId`` of the envelope (the same in
            every delivery of one publish); no other field is accepted then.
        idempotency_ttl: how long Powertools idempotency remembers a key (own code; the bundled
            consumer's item remembers its key for as long as it exists). Default one hour.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topic: sns.ITopic | None = None,
        encryption_key: kms.IKey | None = None,
        queue_encryption_key: kms.IKey | None = None,
        fifo: bool | None = None,
        content_based_deduplication: bool | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        subscribers: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(scope, id)
        # SNS may use the queue key for this topic only, whatever the app's feature flags say.
        self.node.set_context(_RESTRICT_SNS_KEY_USE, True)
        if topic is not None and (fifo is not None or content_based_deduplication is not None or encryption_key):
            raise ValueError(
                "topic= was given, so fifo, content_based_deduplication and encryption_key cannot be: "
                "they describe a new topic"
            )
        if content_based_deduplication and not fifo:
            raise ValueError("content_based_deduplication needs fifo=True")
        self.secure_topic: SecureTopic | None = None
        if topic is None:
            self.secure_topic = SecureTopic(
                self,
                "Events",
                encryption_key=encryption_key,
                fifo=bool(fifo),
                content_based_deduplication=bool(content_based_deduplication),
            )
            topic = self.secure_topic.topic
            self._fifo = bool(fifo)
        else:
            self._fifo = bool(getattr(topic, "fifo", False))
        self.topic = topic
        self.key: kms.IKey | None = self.secure_topic.key if self.secure_topic else None
        self.queue_key = queue_encryption_key or rotating_key(
            self,
            "QueueKey",
            description=f"Encrypts the subscriber queues of {self.node.path}",
            removal_policy=RemovalPolicy.DESTROY,
        )
        self._content_based_deduplication = bool(content_based_deduplication)
        self._removal_policy = removal_policy
        self.idempotency_table: dynamodb.ITable | None = None
        self.subscribers: dict[str, FanoutSubscriber] = {}
        for name, options in (subscribers or {}).items():
            self.add_subscriber(name, **options)

    def add_subscriber(
        self,
        name: str,
        *,
        function: lambda_.IFunction | None = None,
        code: lambda_.Code | None = None,
        handler: str | None = None,
        environment: Mapping[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int | None = None,
        filter_policy: Mapping[str, sns.SubscriptionFilter] | None = None,
        filter_policy_with_message_body: Mapping[str, sns.FilterOrPolicy] | None = None,
        raw_message_delivery: bool = True,
        max_receive_count: int = 5,
        visibility_timeout: Duration | None = None,
        batch_size: int = 10,
        max_batching_window: Duration | None = None,
        max_concurrency: int | None = None,
        idempotency_key_field: str | None = None,
        idempotency_ttl: Duration = Duration.hours(1),
    ) -> FanoutSubscriber:
        """Give ``name`` its own queue, DLQ, subscription and consumer; return the subscriber."""
        if not _NAME.match(name):
            raise ValueError(f"subscriber name must be 1-64 letters and digits starting with a letter, got {name!r}")
        if name in self.subscribers:
            raise ValueError(f"subscriber {name!r} already exists on {self.node.path}")
        if function is not None:
            given = [
                k
                for k, v in (
                    ("code", code),
                    ("handler", handler),
                    ("environment", environment),
                    ("timeout", timeout),
                    ("memory_size", memory_size),
                    ("idempotency_key_field", idempotency_key_field),
                )
                if v is not None
            ]
            if given:
                raise ValueError(f"function= was given, so {', '.join(given)} cannot be: they configure a new consumer")
        if handler is not None and code is None:
            raise ValueError("handler= needs code=: the bundled consumer's entry point is fixed")
        if idempotency_key_field is not None and not idempotency_key_field.strip():
            raise ValueError("idempotency_key_field must be a non-empty field name")
        if not raw_message_delivery and idempotency_key_field not in (None, SNS_MESSAGE_ID_FIELD):
            raise ValueError(
                f"raw_message_delivery=False: the consumer receives SNS's envelope, where only "
                f"{SNS_MESSAGE_ID_FIELD!r} identifies an event (its other fields are shared by many events "
                f"or are the payload itself), so idempotency_key_field={idempotency_key_field!r} would make "
                f"distinct events collide or fail; leave idempotency_key_field unset (it then is "
                f"{SNS_MESSAGE_ID_FIELD!r}) or keep raw delivery"
            )
        if idempotency_ttl.to_seconds() < 60:
            raise ValueError("idempotency_ttl must be at least one minute")
        consumer_timeout = timeout or (function_timeout(function) if function else None)
        if (
            visibility_timeout is not None
            and consumer_timeout is not None
            and (visibility_timeout.to_seconds() < VISIBILITY_TO_FUNCTION_TIMEOUT * consumer_timeout.to_seconds())
        ):
            raise ValueError(
                f"visibility_timeout must be at least {VISIBILITY_TO_FUNCTION_TIMEOUT}x the consumer's timeout"
            )
        if code is not None and function is None and self.idempotency_table is None:
            self.idempotency_table = SecureTable(
                self, "Idempotency", time_to_live_attribute="expiration", removal_policy=self._removal_policy
            ).table
        subscriber = FanoutSubscriber(
            self,
            name,
            topic=self.topic,
            encryption_key=self.queue_key,
            fifo=self._fifo,
            content_based_deduplication=self._content_based_deduplication,
            idempotency_table=self.idempotency_table if code is not None and function is None else None,
            function=function,
            code=code,
            handler=handler,
            environment=environment,
            timeout=timeout,
            memory_size=memory_size,
            filter_policy=filter_policy,
            filter_policy_with_message_body=filter_policy_with_message_body,
            raw_message_delivery=raw_message_delivery,
            max_receive_count=max_receive_count,
            visibility_timeout=visibility_timeout,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            max_concurrency=max_concurrency,
            idempotency_key_field=idempotency_key_field,
            idempotency_ttl=idempotency_ttl,
            removal_policy=self._removal_policy,
        )
        self.subscribers[name] = subscriber
        return subscriber

    def grant_publish(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` publish events: ``sns:Publish`` on the topic and, when the topic is
        encrypted, ``kms:GenerateDataKey`` and ``kms:Decrypt`` on its key - exactly what SNS needs
        from a publisher. Prefer it to ``topic.grant_publish``, whose ``kms:GenerateDataKey*`` is a
        wildcard action that cdk-nag reports (AwsSolutions-IAM5) on the grantee's policy."""
        return grant_publish(grantee, self.topic, self.key)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm of the topic and its subscribers."""
        topic_alarms = self.secure_topic.alarms if self.secure_topic is not None else []
        return topic_alarms + [alarm for sub in self.subscribers.values() for alarm in sub.alarms]
