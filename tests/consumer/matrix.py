"""The consumer matrix: every public construct built the way other apps build it, in one app.

Each case is a stack (or a stage, or a pair of stacks) of one app that registers both cdk-nag packs
and sets no feature flag, like a user's app; the app is synthesized once per test session and each
case is then checked on its own templates and on the findings under its own construct path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from assembly_stacks import DeployedStack, deployed_stacks
from aws_cdk import App, Environment, NestedStack, RemovalPolicy, Stack, Stage, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import Construct
from nag_check import rule_set_reports

from consumer.global_cases import GLOBAL_CASES, add_global_cases
from consumer.object_pipeline_case import object_pipeline
from consumer.saga_case import saga
from consumer.stream_cases import stream_processors, table_stream_processor
from patterns import (
    ITEMS_SMOKE_TEST_EVENT,
    AlarmTopic,
    ApiLambdaTable,
    CanaryFunction,
    CognitoProtectedApi,
    FanoutQueue,
    ScheduledJob,
    SecureFunction,
    SecureQueue,
    SecureTable,
    SecureTopic,
    TableEventPublisher,
    bundled_code,
    items_handler_environment,
    route_alarms,
)
from patterns.blocks import POWERTOOLS_LAYER_CONTEXT

ACCOUNT = "111111111111"
BOUND = Environment(account=ACCOUNT, region="eu-west-1")
CHINA = Environment(account="222222222222", region="cn-north-1")
GOVCLOUD = Environment(account="333333333333", region="us-gov-west-1")
# The flag `cdk init` turns on: with a concrete region the partition is written as a literal.
PARTITION_LITERALS = "@aws-cdk/core:enablePartitionLiterals"
DESTROY = RemovalPolicy.DESTROY
# Where the public Powertools layer's SSM parameter is not published, the user names a layer.
CHINA_POWERTOOLS_LAYER = "arn:aws-cn:lambda:cn-north-1:222222222222:layer:PowertoolsPython:1"


def every_construct(scope: Construct, *, cognito_available: bool = True) -> None:
    """One of each public construct, wired the way the docs show, under ``scope``.

    ``cognito_available=False`` leaves out ``CognitoProtectedApi`` (CloudFormation's registry has no
    Cognito user pool types in the aws-cn regions).
    """
    table, items = service_constructs(scope, cognito_available=cognito_available)
    workload_constructs(scope, table=table.table, api=items.api)
    route_alarms(scope, AlarmTopic(scope, "Ops", email="ops@example.com"))


def service_constructs(scope: Construct, *, cognito_available: bool = True) -> tuple[SecureTable, ApiLambdaTable]:
    """The building blocks and the service patterns: items API, fan-out, table events, canary, Cognito."""
    table = SecureTable(scope, "Table", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES, removal_policy=DESTROY)
    topic = SecureTopic(scope, "Topic")
    queue = SecureQueue(scope, "Queue")
    recorder = SecureFunction(
        scope, "Recorder", code=bundled_code("event_recorder"), environment={"TABLE_NAME": table.table.table_name}
    )
    queue.subscribe(topic.topic)
    queue.add_consumer(recorder.function)
    table.table.grant(recorder.function, "dynamodb:PutItem")
    SecureFunction(scope, "Notifier", code=bundled_code("hello"), asynchronous=True)

    items = ApiLambdaTable(scope, "Items", table_removal_policy=DESTROY)
    events = FanoutQueue(scope, "Events", removal_policy=DESTROY)
    events.add_subscriber("Audit", idempotency_key_field="event_id")
    TableEventPublisher(scope, "Changes", table=table.table, topic=events.topic, encryption_key=events.key)
    CanaryFunction(scope, "Greeter")
    if cognito_available:
        CognitoProtectedApi(scope, "Secured", removal_policy=DESTROY, table_removal_policy=DESTROY)
    return table, items


def workload_constructs(scope: Construct, *, table: dynamodb.ITable, api: apigw.RestApi | None) -> None:
    """The workload patterns: image pipeline (uploads on ``api``, or its own API), scheduled job, streams, saga."""
    object_pipeline(scope, api)
    ScheduledJob(
        scope,
        "Nightly",
        schedule="cron(0 3 * * ? *)",
        code=bundled_code("scheduled_job"),
        environment={"ITEMS_TABLE_NAME": table.table_name},
    )
    stream_processors(scope, table=table)
    saga(scope)


class EveryConstructStack(Stack):
    def __init__(
        self, scope: Construct, id: str, *, cognito_available: bool = True, context: dict | None = None, **kwargs
    ) -> None:
        super().__init__(scope, id, **kwargs)
        for key, value in (context or {}).items():
            self.node.set_context(key, value)
        every_construct(self, cognito_available=cognito_available)


class NestedEveryConstruct(NestedStack):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        every_construct(self)


class SharedResources(Stack):
    """Stateful resources another stack's patterns use."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.table = SecureTable(
            self, "Items", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES, removal_policy=DESTROY
        )
        self.topic = SecureTopic(self, "Events")
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_lowercase=True, require_uppercase=True, require_digits=True, require_symbols=True
            ),
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            removal_policy=DESTROY,
        )


class SharedResourceUsers(Stack):
    """Patterns given the resources of ``SharedResources`` instead of making their own."""

    def __init__(self, scope: Construct, id: str, shared: SharedResources, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        table = shared.table.table
        ApiLambdaTable(self, "Items", table=table)
        CognitoProtectedApi(self, "Secured", user_pool=shared.user_pool, table=table)
        events = FanoutQueue(self, "Events", topic=shared.topic.topic)
        events.add_subscriber("Audit", idempotency_key_field="event_id")
        TableEventPublisher(self, "Changes", table=table, topic=shared.topic.topic, encryption_key=shared.topic.key)
        table_stream_processor(self, table=table)
        inbox = SecureQueue(self, "Inbox")
        inbox.subscribe(shared.topic.topic)


class ComposedPatterns(Stack):
    """A canary alias behind the items API and behind the Cognito-protected API."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        table = SecureTable(self, "Items", removal_policy=DESTROY).table
        for name, admin_group in (("Public", None), ("Secured", "admins")):
            canary = CanaryFunction(
                self,
                f"{name}Function",
                code=bundled_code("items_api"),
                environment=items_handler_environment(table, admin_group=admin_group),
                pre_traffic_hook=True,
                smoke_payload=ITEMS_SMOKE_TEST_EVENT,
                expected_status_code=200,
            )
            if admin_group is None:
                ApiLambdaTable(self, "PublicApi", function=canary.alias, table=table)
                ScheduledJob(
                    self, "WarmUp", schedule="rate(1 hour)", function=canary.alias, payload=ITEMS_SMOKE_TEST_EVENT
                )
            else:
                CognitoProtectedApi(self, "SecuredApi", function=canary.alias, table=table, removal_policy=DESTROY)


#: The settings stack (API Gateway's account-level CloudWatch role) ApiLambdaTable adds per stage and environment.
SETTINGS = "ApiGatewayAccountLogging"
#: Each case and the construct paths (stacks) it is made of; a settings stack goes with the first case of
#: its stage and environment.
CASES = {
    "env-agnostic": ("EnvAgnostic", SETTINGS),
    "account-and-region": ("EnvBound", f"{SETTINGS}-{ACCOUNT}-eu-west-1"),
    "aws-cn": ("Partitions/China", f"Partitions/{SETTINGS}-222222222222-cn-north-1"),
    "aws-us-gov": ("Partitions/GovCloud", f"Partitions/{SETTINGS}-333333333333-us-gov-west-1"),
    "stage": ("Prod/Service", f"Prod/{SETTINGS}-{ACCOUNT}-us-east-1"),
    "nested-stack": ("NestedParent",),
    "two-instances": ("Twice", "TwiceWorkloads"),
    "cross-stack": ("Shared", "SharedUsers"),
    "composed": ("Composed",),
    **GLOBAL_CASES,  # GlobalTable and RegionalEndpoint: env-bound only (consumer/global_cases.py)
}


def build_matrix_app(outdir: Path) -> App:
    """Every case in one app; ``Partitions`` turns on partition literals as ``cdk init`` apps do."""
    app = App(outdir=str(outdir))
    EveryConstructStack(app, "EnvAgnostic")
    EveryConstructStack(app, "EnvBound", env=BOUND)

    partitions = Stage(app, "Partitions")
    partitions.node.set_context(PARTITION_LITERALS, True)
    EveryConstructStack(
        partitions,
        "China",
        env=CHINA,
        cognito_available=False,
        context={POWERTOOLS_LAYER_CONTEXT: CHINA_POWERTOOLS_LAYER},
    )
    EveryConstructStack(partitions, "GovCloud", env=GOVCLOUD)

    prod = Stage(app, "Prod", env=Environment(account=ACCOUNT, region="us-east-1"))
    EveryConstructStack(prod, "Service")

    NestedEveryConstruct(Stack(app, "NestedParent", env=BOUND), "Nested")

    # Two instances of every construct side by side; in two stacks, as all of them twice would pass
    # CloudFormation's 500 resources per stack.
    twice = Stack(app, "Twice", env=BOUND)
    twice_workloads = Stack(app, "TwiceWorkloads", env=BOUND)
    for instance in ("First", "Second"):
        services = Construct(twice, instance)
        service_constructs(services)
        route_alarms(services, AlarmTopic(services, "Ops", email="ops@example.com"))
        workloads = Construct(twice_workloads, instance)
        stream_table = SecureTable(
            workloads, "Table", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES, removal_policy=DESTROY
        )
        workload_constructs(workloads, table=stream_table.table, api=None)
        route_alarms(workloads, AlarmTopic(workloads, "Ops", email="ops@example.com"))

    shared = SharedResources(app, "Shared")
    SharedResourceUsers(app, "SharedUsers", shared)

    ComposedPatterns(app, "Composed", env=BOUND)
    add_global_cases(app)

    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app


@dataclass(frozen=True)
class SynthesizedMatrix:
    outdir: Path
    error: str | None

    def report(self) -> dict:
        path = self.outdir / "validation-report.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def findings(self, key: str, case: str) -> list[tuple[str, str]]:
        """(rule, construct path) of the report's ``key`` ("violations" or "suppressedViolations") in ``case``."""
        prefixes = CASES[case]
        found = []
        for plugin in rule_set_reports(self.report()):
            for violation in plugin.get(key, []):
                for construct in violation["violatingConstructs"]:
                    path = construct["constructPath"]
                    if any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes):
                        found.append((violation["ruleName"], path))
        return found

    def template(self, display_name: str) -> dict:
        """The template of the stack whose construct path is ``display_name`` (stages included)."""
        return self.stack(display_name).template

    def stack(self, display_name: str) -> DeployedStack:
        (found,) = [stack for stack in deployed_stacks(self.outdir) if stack.display_name == display_name]
        return found


def synthesize_matrix(outdir: Path) -> SynthesizedMatrix:
    error = None
    try:
        build_matrix_app(outdir).synth()
    except RuntimeError as failure:  # cdk-nag findings make synth raise ValidationFailed
        error = str(failure)
    return SynthesizedMatrix(outdir=outdir, error=error)
