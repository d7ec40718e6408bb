"""A Lambda function with the project's secure, observable defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..compliance import is_strict, strict_reserved_concurrency
from ..compliance import log_retention as compliance_log_retention
from .alarms import function_errors_alarm, function_throttles_alarm
from .compliance_resources import logs_key
from .managed_policies import managed_policy_role, separate_policy
from .nag import acknowledge
from .powertools import powertools_layer
from .queue import dead_letter_alarm, standalone_dead_letter_queue

#: The newest Python runtime this CDK version knows (cdk-nag's AwsSolutions-L1 asks for it).
DEFAULT_RUNTIME = lambda_.Runtime.PYTHON_3_14
_MAX_TIMEOUT = Duration.minutes(15)
#: Regions where Lambda offers no SnapStart (AWS's SnapStart page: every commercial region but these).
SNAP_START_UNSUPPORTED_REGIONS = frozenset({"ap-southeast-6", "ap-east-2"})
_SNAP_START_PUBLISH_WARNING = "@aws-cdk/aws-lambda:snapStartRequirePublish"
#: Log retention when none is given (under the strict profile: the profile's, a year or more).
DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# What the strict profile's packs ask of every function that this one deliberately does not do.
_STRICT_DLQ_RULES = ("NIST.800.53.R5-LambdaDLQ", "HIPAA.Security-LambdaDLQ")
_STRICT_VPC_RULES = (
    "NIST.800.53.R5-LambdaInsideVPC",
    "HIPAA.Security-LambdaInsideVPC",
    "PCI.DSS.321-LambdaInsideVPC",
    "cfn-guard:lambda_inside_vpc_check",
)


class SecureFunction(Construct):
    """A Python Lambda function on arm64 with its own role, log group, tracing and alarms.

    What it makes:
      * ``function``: the ``lambda.Function`` (X-Ray active tracing, JSON logs, explicit
        memory and timeout, Powertools from its public layer);
      * ``role``: a dedicated role with no AWS-managed policies; it may write to its own log
        group only, plus X-Ray (in a separate policy, ``tracing_policy``). Under the strict
        profile its grants and ``tracing_policy`` are customer-managed policies, not inline ones;
      * ``log_group``: the function's log group with bounded retention (under the strict
        profile encrypted with the stack's logs key, ``compliance_resources.logs_key``);
      * ``dead_letter_queue`` and ``dead_letter_alarm``: only when ``asynchronous=True``:
        where failed asynchronous events go (an encrypted, SSL-only queue) and its alarm;
      * ``errors_alarm`` and ``throttles_alarm`` (no actions of their own; ``route_alarms`` sends them on);
      * ``version`` and ``alias``: only with ``snap_start=True``: the version this synth publishes
        and the alias on it (``snap_start_alias``), which callers must invoke to get restored
        environments; otherwise None.

    Under the strict profile (``patterns.compliance``) it also acknowledges, on the function only,
    that it runs outside a VPC (NIST, HIPAA and PCI ``LambdaInsideVPC``, Control Tower
    ``lambda_inside_vpc_check``) and, when synchronous, that it has no DLQ (NIST and HIPAA
    ``LambdaDLQ``).

    Args:
        code: the function's code. Use ``patterns.bundled_code(name)`` for a bundled handler.
        handler: ``module.function`` inside the code. Default ``"app.handler"``.
        environment: environment variables, the only configuration the function receives.
        memory_size: MiB, 128..10240. Default 256.
        timeout: at most 15 minutes. Default 10 seconds.
        runtime: a Python runtime. Default: the newest Python runtime (``DEFAULT_RUNTIME``).
        architecture: default ARM_64 (cheaper per GB-second).
        log_retention: how long logs are kept. Default one month; under the strict profile the
            profile's retention (a year), and a shorter value raises ``ValueError``.
        log_removal_policy: what happens to the log group on stack deletion. Default DESTROY.
        application_log_level: ``TRACE``..``FATAL``. Default ``INFO``.
        reserved_concurrent_executions: cap on concurrency, reserved from the account's pool.
            Default none (the unreserved pool); under the strict profile
            ``compliance.strict_reserved_concurrency``: 20, or the context value
            ``serverless-patterns:strictReservedConcurrency``. A value given here always wins.
        description: shown in the console.
        service_name: ``POWERTOOLS_SERVICE_NAME``. Default: the construct id.
        powertools: attach the Powertools layer. Default True.
        powertools_layer_version: a layer to use instead of the public Powertools layer
            (e.g. for aws-cn or GovCloud). Default: the public layer for the stack's region.
        asynchronous: the function is invoked asynchronously (SNS, EventBridge, S3, ``Event``
            invocations); failed events then go to ``dead_letter_queue``. Leave False for
            synchronous callers (API Gateway, SQS/stream event source mappings), which get
            the error themselves. Default False.
        dead_letter_queue: an existing queue for failed asynchronous events (implies
            ``asynchronous``). When it has a customer-managed key, the role also gets
            ``kms:GenerateDataKey`` and ``kms:Decrypt`` on that key, as SQS needs from a
            sender. Default: a new ``SecureQueue`` dead-letter queue when asynchronous.
        snap_start: Lambda SnapStart on published versions (``SnapStartConf.ON_PUBLISHED_VERSIONS``):
            Lambda runs the init code when a version is published, snapshots the initialized
            environment and restores new environments of that version from it. Python 3.12 or
            newer, x86_64 or arm64; not with provisioned concurrency, EFS or more than 512 MiB of
            ephemeral storage, and not in the regions of ``SNAP_START_UNSUPPORTED_REGIONS``; an
            unsupported combination raises ``ValueError`` here. ``$LATEST`` is never restored from a
            snapshot: invoke ``alias`` (or ``version``). Price: Python functions pay for caching each
            published version's snapshot (per GB-second of memory size, at least 3 hours) and for
            each restore (per GB); worth it for functions whose init takes long compared to how
            often new environments start (heavy imports, latency-sensitive APIs), not for small
            handlers whose init is a few hundred milliseconds. The bundled handlers register
            runtime hooks (``snapshot_restore_py``) that give each restored environment new AWS
            clients (connections, credentials) and a new random seed. Default False.
        snap_start_alias: with ``snap_start``, the name of the alias made on the published version,
            or None to make no alias (e.g. when a ``CanaryFunction`` makes its own). Default ``live``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        code: lambda_.Code,
        handler: str = "app.handler",
        environment: Mapping[str, str] | None = None,
        memory_size: int = 256,
        timeout: Duration = Duration.seconds(10),
        runtime: lambda_.Runtime = DEFAULT_RUNTIME,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        log_retention: logs.RetentionDays | None = None,
        log_removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        application_log_level: str = "INFO",
        reserved_concurrent_executions: int | None = None,
        description: str | None = None,
        service_name: str | None = None,
        powertools: bool = True,
        powertools_layer_version: lambda_.ILayerVersion | None = None,
        asynchronous: bool = False,
        dead_letter_queue: sqs.IQueue | None = None,
        snap_start: bool = False,
        snap_start_alias: str | None = "live",
    ) -> None:
        super().__init__(scope, id)
        _validate(
            handler=handler,
            memory_size=memory_size,
            timeout=timeout,
            runtime=runtime,
            application_log_level=application_log_level,
            reserved_concurrent_executions=reserved_concurrent_executions,
            environment=environment or {},
        )
        if snap_start:
            validate_snap_start(self, runtime=runtime, alias_name=snap_start_alias)
        asynchronous = asynchronous or dead_letter_queue is not None
        strict = is_strict(self)
        if reserved_concurrent_executions is None and strict:
            reserved_concurrent_executions = strict_reserved_concurrency(self)

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=compliance_log_retention(
                self, log_retention, default=DEFAULT_LOG_RETENTION, prop="log_retention"
            ),
            removal_policy=log_removal_policy,
            encryption_key=logs_key(self) if strict else None,
        )
        self.role = managed_policy_role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {self.node.path}",
        )
        self.log_group.grant_write(self.role)

        self.dead_letter_queue: sqs.IQueue | None = None
        self.dead_letter_alarm = None
        if asynchronous:
            self.dead_letter_queue = dead_letter_queue or standalone_dead_letter_queue(self, "DeadLetterQueue")
            self.dead_letter_alarm = dead_letter_alarm(self, self.dead_letter_queue)
            # Lambda's DLQ wiring grants sqs:SendMessage only; on a queue with its own key SQS
            # also calls KMS as the sender. Exactly what it calls, instead of grant_send_messages'
            # Encrypt/ReEncrypt*/GenerateDataKey* (more than needed, and wildcard actions).
            queue_key = self.dead_letter_queue.encryption_master_key
            if queue_key is not None:
                queue_key.grant(self.role, "kms:GenerateDataKey", "kms:Decrypt")

        env = dict(environment or {})
        layers: list[lambda_.ILayerVersion] = []
        if powertools:
            env.setdefault("POWERTOOLS_SERVICE_NAME", service_name or id)
            layers.append(powertools_layer_version or powertools_layer(self, "PowertoolsLayer", runtime, architecture))

        self.function = lambda_.Function(
            self,
            "Function",
            code=code,
            handler=handler,
            runtime=runtime,
            architecture=architecture,
            memory_size=memory_size,
            timeout=timeout,
            role=self.role,
            environment=env,
            layers=layers,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel(application_log_level),
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            reserved_concurrent_executions=reserved_concurrent_executions,
            description=description,
            dead_letter_queue=self.dead_letter_queue,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
        )
        self.tracing_policy = self._enable_tracing()
        self.version: lambda_.Version | None = None
        self.alias: lambda_.Alias | None = None
        if snap_start:
            # Every change publishes a version, the only thing SnapStart snapshots.
            self.version = self.function.current_version
            Annotations.of(self.function).acknowledge_warning(
                _SNAP_START_PUBLISH_WARNING, "SecureFunction publishes current_version for SnapStart"
            )
            if snap_start_alias is not None:
                self.alias = lambda_.Alias(self, "Alias", alias_name=snap_start_alias, version=self.version)

        if not asynchronous:
            for rule in ("Serverless-LambdaDLQ", *(_STRICT_DLQ_RULES if strict else ())):
                acknowledge(
                    self.function,
                    rule,
                    "Invoked synchronously: the caller (API Gateway, an event source mapping or an SDK "
                    "RequestResponse call) receives the error itself, so an asynchronous-invocation DLQ "
                    "would never receive an event.",
                )
        if strict:
            for rule in _STRICT_VPC_RULES:
                acknowledge(
                    self.function,
                    rule,
                    "The function reaches only AWS services' public, TLS and IAM-authenticated endpoints and "
                    "has no resource in a VPC to reach; a VPC would add NAT gateway or interface endpoint "
                    "cost and cold-start latency without narrowing what the function can access.",
                )

        self.errors_alarm = function_errors_alarm(self, "ErrorsAlarm", self.function)
        self.throttles_alarm = function_throttles_alarm(self, "ThrottlesAlarm", self.function)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        return [a for a in (self.errors_alarm, self.throttles_alarm, self.dead_letter_alarm) if a is not None]

    def _enable_tracing(self) -> Construct:
        # Active tracing is set on the L1 so the X-Ray statement lands in a policy of its own:
        # its wildcard acknowledgement then cannot hide a wildcard in the role's other grants.
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode="Active")
        policy = separate_policy(
            self,
            "TracingPolicy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                    resources=["*"],
                )
            ],
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5",
            "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions.",
            findings=["Resource::*"],
        )
        self.function.node.add_dependency(policy)
        return policy


def validate_snap_start(scope: Construct, *, runtime: lambda_.Runtime, alias_name: str | None) -> None:
    """Raise ``ValueError`` for a SnapStart combination Lambda refuses (runtime, region, alias name)."""
    if not runtime.supports_snap_start:
        raise ValueError(f"snap_start needs a runtime with SnapStart (Python 3.12 or newer), got {runtime.name}")
    region = Stack.of(scope).region
    if not Token.is_unresolved(region) and region in SNAP_START_UNSUPPORTED_REGIONS:
        raise ValueError(f"Lambda SnapStart is not available in {region}; leave snap_start off in this region")
    if alias_name is not None and not _ALIAS_NAME.fullmatch(alias_name):
        raise ValueError(
            f"snap_start_alias must be 1 to 128 letters, digits, '-' or '_', not only digits, got {alias_name!r}"
        )


_ALIAS_NAME = re.compile(r"(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}")
_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
# Lambda's reserved environment variables (AWS_LAMBDA_EXEC_WRAPPER and the like stay settable).
_RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)


def _validate(
    *,
    handler: str,
    memory_size: int,
    timeout: Duration,
    runtime: lambda_.Runtime,
    application_log_level: str,
    reserved_concurrent_executions: int | None,
    environment: Mapping[str, str],
) -> None:
    module, _, attr = handler.rpartition(".")
    if not module or not attr:
        raise ValueError(f"handler must look like 'module.function', got {handler!r}")
    if not 128 <= memory_size <= 10240:
        raise ValueError(f"memory_size must be between 128 and 10240 MiB, got {memory_size}")
    if timeout.to_seconds() < 1 or timeout.to_seconds() > _MAX_TIMEOUT.to_seconds():
        raise ValueError(f"timeout must be between 1 second and 15 minutes, got {timeout.to_seconds()} s")
    if runtime.family != lambda_.RuntimeFamily.PYTHON:
        raise ValueError(f"SecureFunction builds Python functions; runtime {runtime.name} is not Python")
    if application_log_level not in _LOG_LEVELS:
        raise ValueError(
            f"application_log_level must be one of {', '.join(_LOG_LEVELS)}, got {application_log_level!r}"
        )
    if reserved_concurrent_executions is not None and reserved_concurrent_executions < 1:
        raise ValueError(
            f"reserved_concurrent_executions must be at least 1 (0 would stop the function), got {reserved_concurrent_executions}"
        )
    for name in environment:
        if not name or name in _RESERVED_ENV:
            raise ValueError(f"environment variable {name!r} is reserved by Lambda")
