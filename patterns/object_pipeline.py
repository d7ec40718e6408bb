"""Upload grant -> private bucket -> S3 notifications -> SQS buffer (+DLQ) -> processor -> CDN, with a metadata table."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import (
    CfnResource,
    Duration,
    RemovalPolicy,
    Stack,
)
from aws_cdk import (
    aws_apigateway as apigw,
)
from aws_cdk import (
    aws_certificatemanager as acm,
)
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .blocks import SecureFunction, SecureQueue, SecureTable, acknowledge, bundled_code, threshold_alarm
from .blocks.alarms import function_errors_alarm, function_throttles_alarm
from .blocks.bucket import (
    SERVER_ACCESS_LOGS_USE_BUCKET_POLICY,
    access_log_bucket,
    acknowledge_strict_bucket_rules,
    private_bucket,
)
from .blocks.cdn import BucketDistribution
from .blocks.compliance_resources import rotating_key
from .blocks.pillow_layer import pillow_layer as make_pillow_layer
from .blocks.queue import VISIBILITY_TO_FUNCTION_TIMEOUT, function_timeout
from .blocks.upload_api import UploadGrantApi
from .compliance import is_strict
from .object_pipeline_validation import validate

#: Processor memory (MiB) when none is given: the 12-megapixel JPEG benchmark's peak, with headroom (docs/object-pipeline.md).
DEFAULT_PROCESSOR_MEMORY = 1024
DEFAULT_WIDTHS = (320, 640, 1280)
DEFAULT_FORMATS = ("webp", "jpeg")
DEFAULT_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
#: S3 actions of the bundled processor on uploads (GetObjectVersion: a versioned bucket's notified version).
PROCESSOR_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
#: DynamoDB actions of the bundled processor on the metadata table.
PROCESSOR_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")


class ObjectPipeline(Construct):
    """Users upload objects with short-lived grants; each new object is processed once and served by CloudFront.

    With no props it is an image pipeline: the bundled processor (``lambda_src/image_processor``,
    Pillow from a layer) writes a WebP and a JPEG rendition per width (320/640/1280, never
    upscaled, metadata stripped) and records each object version's outcome in ``table``.

    Attributes:
        upload_bucket / output_bucket: private, versioned, SSL-only, SSE-S3 (yours if passed).
        log_bucket: server access logs of the buckets made here and CloudFront's standard logs (always made).
        queue / dead_letter_queue: the buffer (SQS-managed encryption) that S3's object-created
            notifications (``upload_prefix`` only) go to, and its DLQ.
        function: the processor (yours with ``processor=``); ``secure_function`` when made here.
        event_source_mapping: queue -> processor, partial batch failures on.
        pillow_layer: the Pillow layer of the bundled processor (None otherwise).
        table: the metadata table (yours if passed; partition key ``id``, string).
        distribution: CloudFront in front of ``output_bucket`` (``delivery`` is the block with its policies);
            None with ``delivery=False``.
        upload_api: the REST API serving ``POST /uploads`` (None when ``serve_uploads=False``);
            ``upload_endpoint`` is the block (grant function, ``grant_invoke``).
        dead_letter_alarm, message_age_alarm, errors_alarm, throttles_alarm, rejected_rate_alarm
        (None with ``processor=``), and ``alarms`` (plus the upload endpoint's and the table's).
        metrics_service: the ``service`` dimension of the bundled processor's ``ObjectPipeline`` metrics,
            ``<stack name>/<path in the stack>``: unique per account and Region.

    Buckets and table:
        upload_bucket / output_bucket: existing buckets instead (their encryption, logging and lifecycle
            are yours; ``removal_policy``, ``expire_uploads_after`` apply to buckets made here).
        table: an existing table with a string partition key ``id``.
        removal_policy: of the buckets and table made here. Default RETAIN (a bucket must be empty to be
            deleted with DESTROY).
        upload_prefix: uploads go under it and only it triggers processing. Default ``uploads/``.
        output_prefix: renditions go under it. Default ``renditions/``.
        expire_uploads_after: originals are deleted this long after upload; None keeps them. Default 30 days.
        abort_incomplete_uploads_after: default 1 day.

    Processor:
        processor: any ``IFunction`` (alias included) consuming the queue instead; it receives SQS
            batches of S3 notifications and should report failures by item. Grant it what it needs.
        processor_code / processor_handler: your code in a ``SecureFunction`` instead of the bundled
            processor; it gets the same grants and environment (``OUTPUT_BUCKET``, ``TABLE_NAME``, ...).
        pillow_layer: a layer with Pillow for Python 3.14 on arm64 instead of the one made from the
            cache (``python -m patterns.pillow_cache`` fills it; synth raises naming that command otherwise).
        widths: rendition widths in pixels. Default 320/640/1280.
        formats: ``webp`` and/or ``jpeg``. Default both (JPEG for clients without WebP).
        max_pixels: larger images are rejected as decompression bombs. Default 50 megapixels.
        memory_size: default ``DEFAULT_PROCESSOR_MEMORY`` (1024 MiB, from the benchmark).
        timeout: default 60 seconds. batch_size: default 5. max_concurrency: default none.
        max_receive_count: deliveries before the DLQ. Default 5.

    Uploads:
        serve_uploads: serve ``POST /uploads``. Default True.
        api: an existing ``RestApi`` to add ``/uploads`` to. Default: a new one.
        authorizer: Cognito user-pool or Lambda authorizer. Default IAM. scopes: Cognito only.
        allowed_content_types: default JPEG, PNG, WebP, GIF. max_upload_bytes: default 25 MiB (checked by
            S3's POST policy and again by the processor). grant_expiry: default 5 minutes.
        cors_allow_origins: browser origins allowed to ask for grants and to POST to the upload bucket.
        web_acl_arn / manage_account_logging_role / account_has_logging_role: of a new API, as ``ApiLambdaTable``'s.

    Delivery:
        delivery: serve ``output_bucket`` through CloudFront. Default True. CloudFront with Origin Access
            Control is not offered in the aws-cn and aws-us-gov partitions: a stack bound to one of their
            regions must pass False (and serve the renditions another way); then ``distribution`` is None.
        domain_names / certificate (us-east-1): both or neither. web_acl_id: a CLOUDFRONT-scope web ACL.
        geo_restriction: default none. price_class: default ``PRICE_CLASS_100``.

    Alarms:
        rejected_rate_threshold: share of objects rejected over 15 minutes, in (0, 1]. Default 0.25.
        rejected_rate_min_objects: fewer outcomes in 15 minutes never alarm (one bad upload of two is not an
            incident). Default 3.
        max_message_age: the buffer's oldest message. Default 15 minutes.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        upload_bucket: s3.IBucket | None = None,
        output_bucket: s3.IBucket | None = None,
        table: dynamodb.ITable | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        upload_prefix: str = "uploads/",
        output_prefix: str = "renditions/",
        expire_uploads_after: Duration | None = Duration.days(30),
        abort_incomplete_uploads_after: Duration = Duration.days(1),
        processor: lambda_.IFunction | None = None,
        processor_code: lambda_.Code | None = None,
        processor_handler: str | None = None,
        pillow_layer: lambda_.ILayerVersion | None = None,
        widths: Sequence[int] = DEFAULT_WIDTHS,
        formats: Sequence[str] = DEFAULT_FORMATS,
        max_pixels: int = 50_000_000,
        memory_size: int | None = None,
        timeout: Duration | None = None,
        batch_size: int = 5,
        max_concurrency: int | None = None,
        max_receive_count: int = 5,
        serve_uploads: bool = True,
        api: apigw.RestApi | None = None,
        authorizer: apigw.IAuthorizer | None = None,
        scopes: Sequence[str] = (),
        allowed_content_types: Sequence[str] = DEFAULT_CONTENT_TYPES,
        max_upload_bytes: int = 25 * 1024 * 1024,
        grant_expiry: Duration = Duration.minutes(5),
        cors_allow_origins: Sequence[str] | None = None,
        web_acl_arn: str | None = None,
        manage_account_logging_role: bool = True,
        account_has_logging_role: bool = False,
        domain_names: Sequence[str] = (),
        certificate: acm.ICertificate | None = None,
        web_acl_id: str | None = None,
        geo_restriction: cloudfront.GeoRestriction | None = None,
        price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_100,
        delivery: bool = True,
        rejected_rate_threshold: float = 0.25,
        rejected_rate_min_objects: int = 3,
        max_message_age: Duration = Duration.minutes(15),
    ) -> None:
        super().__init__(scope, id)
        validate(**locals(), region=Stack.of(scope).region)
        self.node.set_context(SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, True)
        timeout = timeout or (function_timeout(processor) if processor else None) or Duration.seconds(60)
        stack = Stack.of(self)
        # The stack's name is unique in an account and Region, the path in the stack within it.
        self.metrics_service = f"{stack.stack_name}/{self.node.path[len(stack.node.path) + 1 :]}"

        strict = is_strict(self)
        self.key: kms.Key | None = None
        if strict and (upload_bucket is None or output_bucket is None):
            self.key = rotating_key(
                self,
                "ObjectsKey",
                description=f"Encrypts the objects of {self.node.path}",
                removal_policy=removal_policy,
            )
        self.log_bucket = access_log_bucket(self, "Logs", removal_policy=removal_policy, expire_after=Duration.days(90))
        self.upload_bucket = upload_bucket or private_bucket(
            self,
            "Uploads",
            access_logs=self.log_bucket,
            access_logs_prefix="s3/uploads/",
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    prefix=upload_prefix or None,
                    expiration=expire_uploads_after,
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=abort_incomplete_uploads_after,
                )
            ],
            cors=[_upload_cors(cors_allow_origins)] if cors_allow_origins else None,
            encryption_key=self.key,
        )
        self.output_bucket = output_bucket or private_bucket(
            self,
            "Renditions",
            access_logs=self.log_bucket,
            access_logs_prefix="s3/renditions/",
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            encryption_key=self.key,
        )
        _acknowledge_strict_rules(
            self,
            made=[
                b
                for b, given in ((self.upload_bucket, upload_bucket), (self.output_bucket, output_bucket))
                if not given
            ],
        )
        self.secure_table: SecureTable | None = None
        if table is None:
            self.secure_table = SecureTable(self, "Objects", removal_policy=removal_policy)
            table = self.secure_table.table
        self.table = table

        self.buffer = SecureQueue(
            self,
            "Buffer",
            visibility_timeout=Duration.seconds(timeout.to_seconds() * VISIBILITY_TO_FUNCTION_TIMEOUT),
            max_receive_count=max_receive_count,
            max_message_age=max_message_age,
        )
        self.queue: sqs.Queue = self.buffer.queue
        self.dead_letter_queue: sqs.Queue = self.buffer.dead_letter_queue
        self.upload_bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.SqsDestination(self.queue), s3.NotificationKeyFilter(prefix=upload_prefix)
        )
        _acknowledge_notifications_handler(self, self.upload_bucket)

        self.pillow_layer: lambda_.ILayerVersion | None = None
        self.secure_function: SecureFunction | None = None
        if processor is None:
            environment = {
                "OUTPUT_BUCKET": self.output_bucket.bucket_name,
                "TABLE_NAME": table.table_name,
                "WIDTHS": ",".join(str(width) for width in widths),
                "FORMATS": ",".join(formats),
                "OUTPUT_PREFIX": output_prefix,
                "MAX_OBJECT_BYTES": str(max_upload_bytes),
                "MAX_PIXELS": str(max_pixels),
                # Stop starting objects this long before the timeout (a 12-MP image takes about a second).
                "STOP_BEFORE_TIMEOUT_MS": str(int(min(10_000, timeout.to_milliseconds() // 4))),
                "POWERTOOLS_METRICS_NAMESPACE": _METRICS_NAMESPACE,
            }
            self.secure_function = SecureFunction(
                self,
                "Processor",
                code=processor_code or bundled_code("image_processor"),
                handler=processor_handler or "app.handler",
                memory_size=memory_size or DEFAULT_PROCESSOR_MEMORY,
                timeout=timeout,
                environment=environment,
                service_name=self.metrics_service,
            )
            processor = self.secure_function.function
            if processor_code is None:
                self.pillow_layer = pillow_layer or make_pillow_layer(self, "PillowLayer")
                self.secure_function.function.add_layers(self.pillow_layer)
            self._grant_processor(self.secure_function, upload_prefix, output_prefix)
        self.function = processor
        self.event_source_mapping = self.buffer.add_consumer(
            processor, batch_size=batch_size, max_concurrency=max_concurrency
        )

        self.upload_endpoint: UploadGrantApi | None = None
        self.upload_api: apigw.RestApi | None = None
        if serve_uploads:
            self.upload_endpoint = UploadGrantApi(
                self,
                "UploadGrants",
                bucket=self.upload_bucket,
                key_prefix=upload_prefix,
                allowed_content_types=allowed_content_types,
                max_upload_bytes=max_upload_bytes,
                expires=grant_expiry,
                api=api,
                authorizer=authorizer,
                scopes=scopes,
                cors_allow_origins=cors_allow_origins,
                web_acl_arn=web_acl_arn,
                manage_account_logging_role=manage_account_logging_role,
                account_has_logging_role=account_has_logging_role,
            )
            self.upload_api = self.upload_endpoint.api

        self.delivery: BucketDistribution | None = None
        self.distribution: cloudfront.Distribution | None = None
        if delivery:
            self.delivery = BucketDistribution(
                self,
                "Delivery",
                bucket=self.output_bucket,
                log_bucket=self.log_bucket,
                log_prefix="cloudfront/",
                domain_names=domain_names,
                certificate=certificate,
                web_acl_id=web_acl_id,
                geo_restriction=geo_restriction,
                price_class=price_class,
                comment=f"Renditions of {self.node.path}",
            )
            self.distribution = self.delivery.distribution
        self._grant_keys()
        self._add_alarms(rejected_rate_threshold, rejected_rate_min_objects)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        alarms = [self.dead_letter_alarm, self.message_age_alarm, self.errors_alarm, self.throttles_alarm]
        if self.rejected_rate_alarm is not None:
            alarms.append(self.rejected_rate_alarm)
        if self.upload_endpoint is not None:
            alarms += self.upload_endpoint.alarms
        if self.secure_table is not None:
            alarms += self.secure_table.alarms
        return alarms

    def _grant_keys(self) -> None:
        """KMS on every encrypted path: the processor decrypts uploads and encrypts renditions, the grant
        function's signature lets S3 encrypt the upload, under the buckets' keys (made here or yours)."""
        uses: list[tuple[s3.IBucket, iam.IGrantable, str]] = [
            (self.upload_bucket, self.function, "kms:Decrypt"),
            (self.output_bucket, self.function, "kms:GenerateDataKey"),
        ]
        if self.upload_endpoint is not None:
            uses.append((self.upload_bucket, self.upload_endpoint.function, "kms:GenerateDataKey"))
        actions: dict[tuple[kms.IKey, iam.IGrantable], set[str]] = {}
        for bucket, grantee, action in uses:
            if bucket.encryption_key is not None:
                actions.setdefault((bucket.encryption_key, grantee), set()).add(action)
        for (key, grantee), granted in actions.items():
            key.grant(grantee, *sorted(granted))

    def _grant_processor(self, function: SecureFunction, upload_prefix: str, output_prefix: str) -> None:
        uploads = f"{self.upload_bucket.bucket_arn}/{upload_prefix}*"
        renditions = f"{self.output_bucket.bucket_arn}/{output_prefix}*"
        iam.Grant.add_to_principal(
            grantee=function.function, actions=list(PROCESSOR_READ_ACTIONS), resource_arns=[uploads]
        )
        iam.Grant.add_to_principal(grantee=function.function, actions=["s3:PutObject"], resource_arns=[renditions])
        self.table.grant(function.function, *PROCESSOR_TABLE_ACTIONS)
        acknowledge(
            function.role,
            "AwsSolutions-IAM5",
            f"Reads any upload under {upload_prefix!r} and writes renditions under {output_prefix!r}: object keys "
            "are chosen per upload, so the statements name the prefixes, not each object.",
            findings=[f"Resource::{uploads}", f"Resource::{renditions}"],
        )

    def _add_alarms(self, rejected_rate_threshold: float, rejected_rate_min_objects: int) -> None:
        self.dead_letter_alarm = self.buffer.dead_letter_alarm
        self.message_age_alarm = self.buffer.message_age_alarm
        if self.secure_function is not None:
            self.errors_alarm = self.secure_function.errors_alarm
            self.throttles_alarm = self.secure_function.throttles_alarm
        else:
            self.errors_alarm = function_errors_alarm(self, "ProcessorErrorsAlarm", self.function)
            self.throttles_alarm = function_throttles_alarm(self, "ProcessorThrottlesAlarm", self.function)
        self.rejected_rate_alarm: cloudwatch.Alarm | None = None
        if self.secure_function is None or self.pillow_layer is None:
            return  # only the bundled processor emits the outcome metrics
        period = Duration.minutes(15)
        dimensions = {"service": self.metrics_service}

        def count(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=_METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map=dimensions,
                statistic="Sum",
                period=period,
            )

        self.rejected_rate_alarm = threshold_alarm(
            self,
            "RejectedRateAlarm",
            cloudwatch.MathExpression(
                expression=rejected_rate_expression(rejected_rate_min_objects),
                using_metrics={"rejected": count("RejectedObjects"), "processed": count("ProcessedObjects")},
                period=period,
                label="Share of objects rejected",
            ),
            threshold=rejected_rate_threshold,
            description=f"{self.node.path}: more than {rejected_rate_threshold:.0%} of uploaded objects were rejected "
            f"(of at least {rejected_rate_min_objects} in 15 minutes)",
        )


def rejected_rate_expression(min_objects: int) -> str:
    """The share of objects rejected, 0 below ``min_objects`` outcomes. A period with rejections only has no
    ``processed`` datapoint: FILL makes it 0, so the share is 1 instead of missing data (which does not alarm)."""
    total = "(FILL(rejected, 0) + FILL(processed, 0))"
    return f"IF({total} >= {min_objects}, FILL(rejected, 0) / {total}, 0)"


_PACKS = ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")
_METRICS_NAMESPACE = "ObjectPipeline"
# The id the CDK gives its bucket-notifications handler singleton (aws-s3 notifications-resource-handler).
_NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
_BASIC_EXECUTION = "service-role/AWSLambdaBasicExecutionRole"


def _acknowledge_notifications_handler(scope: Construct, bucket: s3.IBucket) -> None:
    """The CDK's per-stack function that sets bucket notifications at deploy time: a managed-policy role, and
    under the strict profile an inline policy (on the bucket's ``Notifications``), no VPC, and a reserved
    concurrency of 1 (set here, as the profile sets one on every function)."""
    handler = Stack.of(scope).node.try_find_child(_NOTIFICATIONS_HANDLER_ID)
    if handler is None:
        return
    what = (
        "The CDK's bucket-notifications handler (one per stack, it runs only at deploy time to call "
        "PutBucketNotificationConfiguration) is made by the CDK itself"
    )
    acknowledge(
        handler,
        "AwsSolutions-IAM4",
        f"{what}, with a role holding AWSLambdaBasicExecutionRole, which grants CloudWatch Logs writes only. "
        "The CDK attaches that managed policy to the handler's role even when one is passed "
        "(BucketProps.notifications_handler_role), and an imported bucket takes none.",
        findings=[f"Policy::{iam.ManagedPolicy.from_aws_managed_policy_name(_BASIC_EXECUTION).managed_policy_arn}"],
    )
    if not is_strict(scope):
        return
    # The strict profile reserves concurrency for every function; this one runs once per deploy.
    function = handler.node.try_find_child("Resource")
    if isinstance(function, CfnResource):
        function.add_property_override("ReservedConcurrentExecutions", 1)
    acknowledge(
        handler,
        "cfn-guard:lambda_inside_vpc_check",
        f"{what}; it calls only the S3 API's public, TLS and IAM-authenticated endpoint and has nothing in a VPC to reach.",
    )
    notifications = bucket.node.try_find_child("Notifications")
    if notifications is not None:
        for pack in _PACKS:
            acknowledge(
                notifications,
                f"{pack}-IAMNoInlinePolicy",
                f"{what}, and it attaches this statement (s3:PutBucketNotification on this bucket only) to its "
                "role as an inline policy; the CDK offers no managed-policy form of it.",
            )


def _acknowledge_strict_rules(pipeline: ObjectPipeline, made: list[s3.IBucket]) -> None:
    """Under the strict profile, the rules the buckets made here and the distribution do not meet, and why."""
    reasons = {
        "replication": "Replication needs a destination bucket in another Region or account, which only the user "
        "can choose; originals are transient (they expire) and renditions can be made again from them.",
        "object_lock": "Object Lock would forbid the deletions this bucket's lifecycle makes (expired originals, "
        "old versions, old logs); versioning already keeps overwritten and deleted objects for a while.",
    }
    notifications = {
        pipeline.upload_bucket: "Object-created notifications to the buffer queue are configured by the CDK's "
        "Custom::S3BucketNotifications resource, which this check does not read.",
        pipeline.output_bucket: "Nothing reacts to new renditions: they are served as written.",
        pipeline.log_bucket: "Nothing reacts to new log files: they are read when investigating.",
    }
    for bucket in [*made, pipeline.log_bucket]:
        acknowledge_strict_bucket_rules(bucket, notifications=notifications[bucket], **reasons)


def _upload_cors(origins: Sequence[str]) -> s3.CorsRule:
    return s3.CorsRule(allowed_methods=[s3.HttpMethods.POST], allowed_origins=list(origins), allowed_headers=["*"])
