"""Kinesis / DynamoDB stream -> Lambda with windows, and exactly-once effects in an aggregate table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..blocks import SecureFunction, SecureTable, acknowledge, bundled_code, threshold_alarm
from ..blocks.alarms import function_errors_alarm, function_throttles_alarm
from ..blocks.compliance_resources import rotating_key
from ..blocks.queue import dead_letter_alarm, standalone_dead_letter_queue
from ..table_events import grant_list_streams
from .ingestion import StreamIngestionApi
from .validation import check_destination, check_function, check_mapping, check_source

#: What Lambda's poller calls on a Kinesis stream (shared throughput) and, with enhanced fan-out, on the consumer.
STREAM_READ_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)
CONSUMER_READ_ACTIONS = ("kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard")
TABLE_STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
#: What a producer calls: the records, and the stream key's data key that encrypts them.
STREAM_WRITE_ACTIONS = ("kinesis:PutRecord", "kinesis:PutRecords")
PRODUCER_KEY_ACTIONS = ("kms:GenerateDataKey",)
#: The only DynamoDB action the bundled aggregator calls.
AGGREGATOR_TABLE_ACTIONS = ("dynamodb:UpdateItem",)
DEFAULT_KEY_FIELD = "key"
#: The bundled aggregator's default window: per-minute counts, the usual dashboard resolution.
DEFAULT_AGGREGATION_WINDOW = Duration.minutes(1)
_DEFAULT_RETENTION = Duration.hours(24)
_DYNAMODB_STREAM_RETENTION = Duration.hours(24)


@jsii.implements(lambda_.IEventSourceDlq)
class _QueueDestination:
    """An on-failure destination that grants nothing itself: the construct grants exactly what is sent."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(
        self, target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        return lambda_.DlqDestinationConfig(destination=self._queue.queue_arn)


class StreamProcessor(Construct):
    """Process a stream in order per shard, in tumbling windows, without losing or double-counting a record.

    With no props it makes an on-demand Kinesis data stream (encrypted with its own key) and the
    bundled aggregator (``lambda_src/stream_aggregator``): per tumbling window it counts (and, with
    ``value_field``, sums) the records of each key, and when the window closes writes each key to
    ``table`` with one conditional ``UpdateItem`` that a retried window or a replayed batch cannot
    apply twice. Pass ``code`` or ``function`` to run your own processing: the construct then wires
    the mapping, permissions, failure destination and alarms only.

    Attributes:
        stream: the Kinesis stream (yours if you passed ``stream=``); None with ``source_table``.
        key: the stream's customer-managed key when this construct made the stream, else the
            ``encryption_key`` you passed (or None).
        consumer: the enhanced fan-out consumer, or None.
        function: the processing function (yours if you passed ``function=``).
        secure_function: the ``SecureFunction`` when this construct made the function.
        event_source: the ``lambda.EventSourceMapping`` (stream or consumer -> function).
        failure_destination: the queue told about every batch given up (standard, encrypted).
        table: the aggregate table of the bundled aggregator (partition key ``key``, sort key
            ``window_start``, both strings); None with your own code.
        stream_listing_policy: with ``source_table``, the ``dynamodb:ListStreams`` policy (as
            ``TableEventPublisher``'s); else None.
        iterator_age_alarm, errors_alarm, throttles_alarm, failure_destination_alarm,
        delivery_failures_alarm (a given-up batch Lambda could not send to the destination);
        for a Kinesis source (else None) stream_iterator_age_alarm (the stream's view: GetRecords,
        or the consumer's MillisBehindLatest), stalled_alarm (records arrive, the function is not
        invoked: a stopped mapping) and put_records_alarm (PutRecords failed or throttled
        records); and ``alarms``, every one of them and the ingestion API's.

    Source (one of):
        stream: an existing Kinesis stream. Its key (``stream.encryption_key``, or
            ``encryption_key``) gets ``kms:Decrypt`` for the function.
        source_table: a DynamoDB table with a stream (new image at least, for the aggregator).
        nothing: a new stream, ``stream_mode`` ON_DEMAND (no shard planning; throughput follows
            traffic) unless ``shard_count`` is given (PROVISIONED), encrypted with ``encryption_key``
            or a new rotating key, keeping records ``retention_period`` (default 24 hours: the
            cheapest; failures reach the destination and the iterator-age alarm long before).

    Event source mapping (defaults are the ones a team tunes from; the docs page has the trade-offs):
        batch_size: records per invocation, 1..10000. Default 100 (Lambda's Kinesis default: enough to
            amortize an invocation, small enough that one bad batch is cheap to retry).
        max_batching_window: wait up to this to fill a batch, 0..5 min. Default 1 second: aggregates
            tolerate a second of delay, and fuller batches mean fewer invocations.
        parallelization_factor: concurrent batches per shard, 1..10. Default 1: records of a
            partition key stay in order, and one window state per shard. Must be 1 with a
            tumbling window: Lambda keeps one state per shard, which concurrent batches would race on.
        starting_position: TRIM_HORIZON (default: records put before the mapping is enabled are
            processed, not skipped) or LATEST.
        bisect_batch_on_error: split a failing batch in two to isolate a poison record. Default True.
        retry_attempts: retries before a batch is given up, 0..10000. Default 3 (Lambda's default is
            unlimited, which holds the shard until the records expire).
        max_record_age: older records are given up unprocessed, 1 min..7 days and at most the
            stream's retention. Default 1 hour: a backlog that old is an incident, not traffic.
        report_batch_item_failures: partial batch responses. Default True; the bundled aggregator
            requires them (it reports a poison record after good ones as a partial failure).
        tumbling_window: aggregate in windows of this length, 1 s..15 min. Default 1 minute with the
            bundled aggregator, none with your own code.
        failure_destination: an existing standard queue for failed batches. Default a new queue
            (SSE, SSL-only, 14 days, ``removal_policy``). The function gets ``sqs:SendMessage`` on
            it, and ``kms:GenerateDataKey``/``kms:Decrypt`` on its key when known (an imported queue:
            only if imported with its key; otherwise grant it yourself).
        enhanced_fan_out: read through a dedicated consumer (own 2 MB/s per shard, push, ~70 ms
            latency) instead of shared throughput. Default False (costs per consumer-shard hour).

    Function:
        function: an existing ``IFunction`` (alias included) with a role this app can change.
        code / handler: your own code (``handler`` default ``app.handler``).
        environment, memory_size (default 256), timeout (default 60 s: a batch of 100 plus a window's
            writes, 8 in parallel: about 10,000 keys per shard per window is the practical cap, see
            the docs), for a function made here.
        key_field: the bundled aggregator's grouping field. Default ``key``.
        value_field: a numeric field it also sums. Default none (counts only).
        table: an existing aggregate table (keys ``key``/``window_start``, strings). Default a new
            ``SecureTable``.
        removal_policy: of the aggregate table, and the stream, its key and the failure queue made
            here. Default RETAIN
            (records and counts outlive the stack unless you say otherwise).

    Alarms:
        max_iterator_age: ``iterator_age_alarm`` threshold. Default 5 minutes (with 1-minute windows,
            five windows late).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stream: kinesis.IStream | None = None,
        source_table: dynamodb.ITable | None = None,
        encryption_key: kms.IKey | None = None,
        retention_period: Duration | None = None,
        shard_count: int | None = None,
        batch_size: int = 100,
        max_batching_window: Duration = Duration.seconds(1),
        parallelization_factor: int = 1,
        starting_position: lambda_.StartingPosition = lambda_.StartingPosition.TRIM_HORIZON,
        bisect_batch_on_error: bool = True,
        retry_attempts: int = 3,
        max_record_age: Duration = Duration.hours(1),
        report_batch_item_failures: bool = True,
        tumbling_window: Duration | None = None,
        failure_destination: sqs.IQueue | None = None,
        enhanced_fan_out: bool = False,
        function: lambda_.IFunction | None = None,
        code: lambda_.Code | None = None,
        handler: str | None = None,
        environment: Mapping[str, str] | None = None,
        memory_size: int = 256,
        timeout: Duration = Duration.seconds(60),
        key_field: str | None = None,
        value_field: str | None = None,
        table: dynamodb.ITable | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        max_iterator_age: Duration = Duration.minutes(5),
    ) -> None:
        super().__init__(scope, id)
        check_source(
            stream=stream,
            source_table=source_table,
            retention_period=retention_period,
            shard_count=shard_count,
            enhanced_fan_out=enhanced_fan_out,
            starting_position=starting_position,
        )
        bundled = function is None and code is None
        if bundled and tumbling_window is None:
            tumbling_window = DEFAULT_AGGREGATION_WINDOW
        check_function(
            function=function,
            code=code,
            handler=handler,
            key_field=key_field,
            value_field=value_field,
            tumbling_window=tumbling_window,
            table_given=table is not None,
            report_batch_item_failures=report_batch_item_failures,
        )
        if source_table is not None:
            source_retention = _DYNAMODB_STREAM_RETENTION
        elif stream is None:
            source_retention = retention_period or _DEFAULT_RETENTION
        else:
            source_retention = Duration.days(7)  # an existing stream's retention is not known here: its maximum
        check_mapping(
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            parallelization_factor=parallelization_factor,
            retry_attempts=retry_attempts,
            max_record_age=max_record_age,
            tumbling_window=tumbling_window,
            retention_period=source_retention,
            max_iterator_age=max_iterator_age,
        )
        check_destination(failure_destination)

        self.key: kms.IKey | None = encryption_key
        self.stream: kinesis.IStream | None = stream
        if stream is None and source_table is None:
            self.key = encryption_key or rotating_key(
                self,
                "StreamKey",
                description=f"Encrypts the stream of {self.node.path}",
                removal_policy=removal_policy,
            )
            self.stream = kinesis.Stream(
                self,
                "Stream",
                stream_mode=kinesis.StreamMode.PROVISIONED if shard_count else kinesis.StreamMode.ON_DEMAND,
                shard_count=shard_count,
                encryption=kinesis.StreamEncryption.KMS,
                encryption_key=self.key,
                retention_period=retention_period or _DEFAULT_RETENTION,
                removal_policy=removal_policy,
            )
            acknowledge(
                self.stream,
                "AwsSolutions-KDS3",
                "The stream's own key is the point: its key policy and grants decide who may read the records "
                "(the function: kms:Decrypt; producers: kms:GenerateDataKey), where the aws/kinesis key serves "
                "every principal of the account with Kinesis permissions. Kinesis reuses data keys, so KMS "
                "requests stay a few per producer and consumer every five minutes.",
            )
        elif stream is not None and self.key is None:
            self.key = stream.encryption_key

        self.table: dynamodb.ITable | None = None
        self.secure_function: SecureFunction | None = None
        if function is None:
            env = dict(environment or {})
            if bundled:
                self.table = (
                    table
                    or SecureTable(
                        self,
                        "Aggregates",
                        partition_key=dynamodb.Attribute(name="key", type=dynamodb.AttributeType.STRING),
                        sort_key=dynamodb.Attribute(name="window_start", type=dynamodb.AttributeType.STRING),
                        removal_policy=removal_policy,
                    ).table
                )
                env.update(TABLE_NAME=self.table.table_name, KEY_FIELD=key_field or DEFAULT_KEY_FIELD)
                if value_field:
                    env["VALUE_FIELD"] = value_field
            self.secure_function = SecureFunction(
                self,
                "Processor",
                code=code or bundled_code("stream_aggregator"),
                handler=handler or "app.handler",
                memory_size=memory_size,
                timeout=timeout,
                environment=env,
                description="Aggregates the stream's records per key per window" if bundled else None,
                service_name=id,
            )
            function = self.secure_function.function
            if self.table is not None:
                self.table.grant(function, *AGGREGATOR_TABLE_ACTIONS)
                if self.table.encryption_key is not None:
                    self.table.encryption_key.grant(function, "kms:Decrypt", "kms:GenerateDataKey")
        self.function: lambda_.IFunction = function

        if failure_destination is None:
            failure_destination = standalone_dead_letter_queue(
                self,
                "FailedBatches",
                dead_letter_queue_of="the stream mapping's on-failure destination: it describes each batch given up",
            )
            # It describes the records to replay from the stream: it lives as long as the stream does.
            failure_destination.apply_removal_policy(removal_policy)
        self.failure_destination: sqs.IQueue = failure_destination
        self._grant_destination(self.failure_destination)

        self.consumer: kinesis.StreamConsumer | None = None
        source_arn = self._grant_source(source_table, enhanced_fan_out)
        self.event_source = lambda_.EventSourceMapping(
            self,
            "Mapping",
            target=function,
            event_source_arn=source_arn,
            starting_position=starting_position,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            parallelization_factor=parallelization_factor,
            bisect_batch_on_error=bisect_batch_on_error,
            retry_attempts=retry_attempts,
            max_record_age=max_record_age,
            report_batch_item_failures=report_batch_item_failures,
            tumbling_window=tumbling_window,
            on_failure=_QueueDestination(self.failure_destination),
        )
        # Lambda checks that the role can read the source when it creates the mapping.
        if function.role is not None:
            for child in function.role.node.children:
                if isinstance(child, (iam.Policy, iam.ManagedPolicy)):
                    self.event_source.node.add_dependency(child)
        if self.stream_listing_policy is not None:
            self.event_source.node.add_dependency(self.stream_listing_policy)

        self._key_field = key_field or DEFAULT_KEY_FIELD
        #: The ingestion API, once ``add_ingestion_api`` made it.
        self.ingestion_api: StreamIngestionApi | None = None
        self._add_alarms(max_iterator_age)

    # -- permissions -----------------------------------------------------------------------------

    def _grant_source(self, source_table: dynamodb.ITable | None, enhanced_fan_out: bool) -> str:
        #: The ``dynamodb:ListStreams`` policy of a table source (see ``TableEventPublisher``), else None.
        self.stream_listing_policy: Construct | None = None
        if source_table is not None:
            table_stream_arn = source_table.table_stream_arn
            assert table_stream_arn is not None  # check_source refused a table without a stream
            iam.Grant.add_to_principal(
                grantee=self.function,
                actions=list(TABLE_STREAM_READ_ACTIONS),
                resource_arns=[table_stream_arn],
            )
            # A table with its own key encrypts its stream with it.
            if source_table.encryption_key is not None:
                source_table.encryption_key.grant(self.function, "kms:Decrypt")
            assert self.function.role is not None  # check_function refused a function without one
            self.stream_listing_policy = grant_list_streams(self, self.function.role)
            return table_stream_arn
        assert self.stream is not None
        iam.Grant.add_to_principal(
            grantee=self.function, actions=list(STREAM_READ_ACTIONS), resource_arns=[self.stream.stream_arn]
        )
        if self.key is not None:
            self.key.grant(self.function, "kms:Decrypt")
        if not enhanced_fan_out:
            return self.stream.stream_arn
        self.consumer = kinesis.StreamConsumer(
            self, "Consumer", stream=self.stream, stream_consumer_name=f"{self.node.addr}"[:128]
        )
        iam.Grant.add_to_principal(
            grantee=self.function,
            actions=list(CONSUMER_READ_ACTIONS),
            resource_arns=[self.consumer.stream_consumer_arn],
        )
        return self.consumer.stream_consumer_arn

    def _grant_destination(self, queue: sqs.IQueue) -> None:
        iam.Grant.add_to_principal(grantee=self.function, actions=["sqs:SendMessage"], resource_arns=[queue.queue_arn])
        # SQS calls KMS as the sender when the queue has its own key. An imported queue's key is known
        # only when it was imported with it (``Queue.from_queue_attributes(key=...)``): otherwise the
        # grant is the app's to make, and a missing one shows as ``delivery_failures_alarm``.
        if queue.encryption_master_key is not None:
            queue.encryption_master_key.grant(self.function, "kms:GenerateDataKey", "kms:Decrypt")

    def grant_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` put records: ``kinesis:PutRecord``/``PutRecords`` on the stream and
        ``kms:GenerateDataKey`` on its key (what a producer calls; ``stream.grant_write`` would add
        wildcard KMS actions that cdk-nag reports)."""
        if self.stream is None:
            raise ValueError(f"{self.node.path} reads a table's stream: write to the table instead")
        grant = iam.Grant.add_to_principal(
            grantee=grantee, actions=list(STREAM_WRITE_ACTIONS), resource_arns=[self.stream.stream_arn]
        )
        if self.key is not None:
            self.key.grant(grantee, *PRODUCER_KEY_ACTIONS)
        return grant

    def add_ingestion_api(self, id: str = "Ingestion", **options: Any) -> StreamIngestionApi:
        """Put a ``StreamIngestionApi`` (``POST /events`` -> ``PutRecords``) in front of the stream.

        Its partition key is the bundled aggregator's ``key_field`` unless ``partition_key_field`` is
        given, so each key's records share a shard. ``options``: ``StreamIngestionApi``'s keyword
        arguments. Its alarm joins ``alarms``.
        """
        if self.stream is None:
            raise ValueError(f"{self.node.path} reads a table's stream: an ingestion API needs a Kinesis stream")
        if self.ingestion_api is not None:
            raise ValueError(f"{self.node.path} already has an ingestion API")
        options.setdefault("partition_key_field", self._key_field)
        self.ingestion_api = StreamIngestionApi(self, id, stream=self.stream, key=self.key, **options)
        return self.ingestion_api

    # -- alarms ----------------------------------------------------------------------------------

    def _add_alarms(self, max_iterator_age: Duration) -> None:
        behind = f"more than {max_iterator_age.to_seconds():.0f} s behind the stream"
        self.iterator_age_alarm = threshold_alarm(
            self,
            "IteratorAgeAlarm",
            self.function.metric("IteratorAge", period=Duration.minutes(1), statistic="Maximum"),
            threshold=max_iterator_age.to_milliseconds(),
            description=f"{self.node.path}: {behind}",
        )
        if self.secure_function is not None:
            self.errors_alarm = self.secure_function.errors_alarm
            self.throttles_alarm = self.secure_function.throttles_alarm
        else:
            consequence = ": its shard retries the batch and falls behind"
            self.errors_alarm = function_errors_alarm(self, "ErrorsAlarm", self.function, consequence=consequence)
            self.throttles_alarm = function_throttles_alarm(
                self, "ThrottlesAlarm", self.function, consequence=consequence
            )
        self.failure_destination_alarm = dead_letter_alarm(self, self.failure_destination, id="FailedBatchesAlarm")
        # A batch given up that Lambda could not describe to the destination (no permission, a key it may not
        # use, a deleted queue) is lost without a trace but this metric.
        self.delivery_failures_alarm = threshold_alarm(
            self,
            "DeliveryFailuresAlarm",
            self.function.metric("DestinationDeliveryFailures", period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description=f"{self.node.path}: a failed batch could not be sent to the failure destination",
        )
        self.stream_iterator_age_alarm: cloudwatch.Alarm | None = None
        self.stalled_alarm: cloudwatch.Alarm | None = None
        self.put_records_alarm: cloudwatch.Alarm | None = None
        if self.stream is not None:
            self._add_stream_alarms(max_iterator_age, behind)

    def _add_stream_alarms(self, max_iterator_age: Duration, behind: str) -> None:
        """The stream's own view: Lambda's metrics stop, rather than grow, when its mapping stops."""
        assert self.stream is not None
        five_minutes = Duration.minutes(5)
        if self.consumer is None:
            age = self.stream.metric("GetRecords.IteratorAgeMilliseconds", period=Duration.minutes(1))
        else:
            age = cloudwatch.Metric(
                namespace="AWS/Kinesis",
                metric_name="SubscribeToShardEvent.MillisBehindLatest",
                dimensions_map={
                    "StreamName": self.stream.stream_name,
                    "ConsumerName": self.consumer.stream_consumer_name,
                },
                period=Duration.minutes(1),
            )
        self.stream_iterator_age_alarm = threshold_alarm(
            self,
            "StreamIteratorAgeAlarm",
            age.with_(statistic="Maximum"),
            threshold=max_iterator_age.to_milliseconds(),
            description=f"{self.node.path}: the stream's reader is {behind}",
        )
        # Records arrive but the function is not invoked: a disabled, deleted or failing mapping.
        self.stalled_alarm = threshold_alarm(
            self,
            "StalledAlarm",
            cloudwatch.MathExpression(
                expression="IF(FILL(incoming, 0) > 0 AND FILL(invocations, 0) == 0, 1, 0)",
                using_metrics={
                    "incoming": self.stream.metric("IncomingRecords", statistic="Sum", period=five_minutes),
                    "invocations": self.function.metric("Invocations", statistic="Sum", period=five_minutes),
                },
                period=five_minutes,
            ),
            threshold=1,
            evaluation_periods=3,
            description=f"{self.node.path}: records reach the stream but the function has not run for 15 minutes",
        )
        # PutRecords answers 200 even when it refused some records: producers must retry those.
        self.put_records_alarm = threshold_alarm(
            self,
            "RefusedRecordsAlarm",
            cloudwatch.MathExpression(
                expression="FILL(failed, 0) + FILL(throttled, 0)",
                using_metrics={
                    "failed": self.stream.metric("PutRecords.FailedRecords", statistic="Sum", period=five_minutes),
                    "throttled": self.stream.metric(
                        "PutRecords.ThrottledRecords", statistic="Sum", period=five_minutes
                    ),
                },
                period=five_minutes,
            ),
            threshold=1,
            description=f"{self.node.path}: the stream refused records of a PutRecords call (failed or throttled)",
        )

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm of the processor."""
        ingestion = self.ingestion_api.alarms if self.ingestion_api is not None else []
        stream = [self.stream_iterator_age_alarm, self.stalled_alarm, self.put_records_alarm]
        return [
            self.iterator_age_alarm,
            self.errors_alarm,
            self.throttles_alarm,
            self.failure_destination_alarm,
            self.delivery_failures_alarm,
            *(alarm for alarm in stream if alarm is not None),
            *ingestion,
        ]
