"""API Gateway's account-level CloudWatch role (one setting per account and region, in a stack of its
own) and a REST stage's execution log group."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from aws_cdk import ArnFormat, Environment, RemovalPolicy, Stack, Stage, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from ..compliance import is_strict, log_retention
from .compliance_resources import logs_key
from .nag import acknowledge

#: The id of the settings stack (env-agnostic); bound to an environment, ``-<account>-<region>`` follows.
SETTINGS_STACK_ID = "ApiGatewayAccountLogging"
# The actions of AWS's AmazonAPIGatewayPushToCloudWatchLogs policy, written out so the role carries
# no managed policy, each on the resource type the Service Authorization Reference authorizes it on.
_LOG_GROUP_ACTIONS = ["logs:CreateLogGroup", "logs:DescribeLogStreams", "logs:FilterLogEvents"]
_LOG_STREAM_ACTIONS = ["logs:CreateLogStream", "logs:GetLogEvents", "logs:PutLogEvents"]
_UNSCOPED_ACTIONS = ["logs:DescribeLogGroups"]  # takes no resource type


class ApiGatewayAccountLogging(Stack):
    """A small stack holding the ``AWS::ApiGateway::Account`` setting and the role it names, both retained.

    API Gateway keeps one CloudWatch role per account and region, and writes the execution logs and
    the access logs of every REST and WebSocket API there with it. Do not make this yourself:
    :func:`api_gateway_account_logging` makes at most one per stage and environment of the app, and
    the stacks whose APIs log depend on it (so ``cdk deploy`` of one of them deploys it first, and
    ``cdk destroy`` of one of them leaves it alone). Destroying it is harmless: both resources are
    retained, so the setting stays in place.

    Under the strict profile (``patterns.compliance``) the role's permissions are a customer-managed
    policy, ``policy``, retained too, instead of an inline one. This stack is made in the stage (or app)
    beside the stacks that use it, so it reads the profile there: set strict on the app or the stage,
    not on one stack only, or this stack stays baseline (and keeps the inline policy).

    Attributes:
        role: the role API Gateway assumes to write logs (retained; its permissions inline, or in ``policy``).
        policy: under the strict profile, the role's retained customer-managed policy; else None.
        setting: the ``CfnAccount`` naming that role (retained).
    """

    def __init__(self, scope: Construct, id: str, *, env: Environment | None = None) -> None:
        super().__init__(
            scope, id, env=env, description="API Gateway's account-level CloudWatch role (one per account and region)"
        )
        log_groups = self.format_arn(
            service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        log_streams = f"{log_groups}:log-stream:*"
        statements = [
            iam.PolicyStatement(actions=_LOG_GROUP_ACTIONS, resources=[log_groups]),
            iam.PolicyStatement(actions=_LOG_STREAM_ACTIONS, resources=[log_streams]),
            iam.PolicyStatement(actions=_UNSCOPED_ACTIONS, resources=["*"]),
        ]
        strict = is_strict(self)
        # The role is retained, and must keep its permissions when the stack is deleted: an inline policy
        # is part of the role resource; under the strict profile (no inline policies) a customer-managed
        # policy attached to it is retained as well (an AWS::IAM::Policy would be deleted with the stack).
        self.role = iam.Role(
            self,
            "CloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="Lets API Gateway write execution and access logs of every API of the account and region",
            inline_policies=None if strict else {"ApiGatewayLogs": iam.PolicyDocument(statements=statements)},
        )
        self.role.apply_removal_policy(RemovalPolicy.RETAIN)
        self.policy: iam.ManagedPolicy | None = None
        if strict:
            self.policy = iam.ManagedPolicy(self, "ApiGatewayLogs", statements=statements, roles=[self.role])
            self.policy.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            self.policy or self.role,
            "AwsSolutions-IAM5",
            "The role serves every REST and WebSocket API of the account and region: API Gateway writes execution "
            "logs to groups it names itself (API-Gateway-Execution-Logs_<api-id>/<stage>, and "
            "/aws/apigateway/<api-id>/<stage> for WebSocket APIs) and access logs to whatever group each stage "
            "names, so it needs every log group and stream, as AWS's AmazonAPIGatewayPushToCloudWatchLogs grants; "
            "logs:DescribeLogGroups supports no resource-level permissions.",
            findings=[f"Resource::{arn}" for arn in (log_groups, log_streams, "*")],
        )
        # Retained with its role: other APIs of the account rely on the setting after this stack is gone.
        self.setting = apigw.CfnAccount(self, "AccountSetting", cloud_watch_role_arn=self.role.role_arn)
        self.setting.apply_removal_policy(RemovalPolicy.RETAIN)
        if self.policy is not None:
            self.setting.node.add_dependency(self.policy)


def settings_stack_id(stack: Stack) -> str:
    """The id of the settings stack for ``stack``'s environment: its concrete account and region, if any."""
    concrete = [value for value in (stack.account, stack.region) if not Token.is_unresolved(value)]
    return "-".join([SETTINGS_STACK_ID, *concrete])


def api_gateway_account_logging(scope: IConstruct) -> ApiGatewayAccountLogging:
    """The settings stack for ``scope``'s account and region, made on first use in ``scope``'s stage.

    ``scope``'s top-level stack (a nested stack's parent) depends on it. Env-agnostic stacks count
    as one environment.

    Raises ValueError when another stage of the app already has the setting for the same account
    and region: stages deploy separately, so neither could wait for the other.
    """
    stack = _top_level_stack(Stack.of(scope))
    stage = _stage_of(stack)
    for owner in _settings(scope.node.root):
        if _same_environment(owner, stack) and _stage_of(owner).node.path != stage.node.path:
            raise ValueError(
                f"{scope.node.path}: API Gateway's account-level CloudWatch role for {_describe(stack)} is "
                f"already set by {owner.node.path} in another stage; stages deploy separately, so set it in "
                "one place only: pass manage_account_logging_role=False and account_has_logging_role=True "
                "here (and deploy that stage first), or bind the stages to their own environments."
            )
    id = settings_stack_id(stack)
    settings = stage.node.try_find_child(id)
    if not isinstance(settings, ApiGatewayAccountLogging):
        env = Environment(
            account=None if Token.is_unresolved(stack.account) else stack.account,
            region=None if Token.is_unresolved(stack.region) else stack.region,
        )
        settings = ApiGatewayAccountLogging(stage, id, env=env)
    stack.add_stack_dependency(settings, "API Gateway needs its account-level CloudWatch role before a stage logs")
    return settings


def _top_level_stack(stack: Stack) -> Stack:
    while stack.nested_stack_parent is not None:
        stack = stack.nested_stack_parent
    return stack


def _stage_of(stack: Stack) -> Stage:
    stage = Stage.of(stack)
    if stage is None:  # a stack is always in an App or a Stage
        raise ValueError(f"{stack.node.path}: the stack is not in an App or a Stage")
    return stage


def _settings(construct: IConstruct) -> Iterator[ApiGatewayAccountLogging]:
    """Every settings stack of the app: children of the app or of a stage, so stacks are not searched further."""
    for child in construct.node.children:
        if isinstance(child, ApiGatewayAccountLogging):
            yield child
        elif not isinstance(child, Stack):
            yield from _settings(child)


def _same_environment(owner: ApiGatewayAccountLogging, stack: Stack) -> bool:
    return owner.account == stack.account and owner.region == stack.region


def _describe(stack: Stack) -> str:
    if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
        return "env-agnostic stacks"
    return f"account {stack.account} region {stack.region}"


def stage_logging(
    scope: Construct,
    stage: apigw.Stage,
    stage_name: str,
    *,
    level: apigw.MethodLoggingLevel,
    manage_account_logging_role: bool,
    manage_execution_log_group: bool,
    retention: logs.RetentionDays,
    encryption_key: kms.IKey | None = None,
) -> tuple[ApiGatewayAccountLogging | None, logs.LogGroup | None]:
    """What ``stage``'s access logs and execution logs at ``level`` need: the settings stack (when the
    role is managed here), and the stage's execution log group (when logging and managed here)."""
    account_logging = api_gateway_account_logging(scope) if manage_account_logging_role else None
    if level == apigw.MethodLoggingLevel.OFF:
        acknowledge(
            stage,
            "AwsSolutions-APIG6",
            "Execution logging was turned off by the construct's user (execution_log_level=OFF); JSON access "
            "logs record every request meanwhile.",
        )
        return account_logging, None
    if not manage_execution_log_group:
        return account_logging, None
    group = execution_log_group(
        scope, "ExecutionLogs", stage, stage_name, retention=retention, encryption_key=encryption_key
    )
    return account_logging, group


def execution_log_group(
    scope: Construct,
    id: str,
    stage: apigw.Stage,
    stage_name: str,
    *,
    retention: logs.RetentionDays,
    encryption_key: kms.IKey | None = None,
) -> logs.LogGroup:
    """The log group API Gateway writes ``stage``'s execution logs to, made before the stage.

    API Gateway names it ``API-Gateway-Execution-Logs_<rest-api-id>/<stage>`` and, when it does
    not exist, creates it on first write with no retention and outside any stack. Made here, it
    has ``retention`` (and ``encryption_key``, which CloudWatch Logs encrypts with: API Gateway's
    role needs no KMS permission), goes with the stack, and the stage waits for it.
    """
    group = logs.LogGroup(
        scope,
        id,
        # The stage's name as given, not stage.stage_name: that is a reference to the stage itself.
        log_group_name=f"API-Gateway-Execution-Logs_{stage.rest_api.rest_api_id}/{stage_name}",
        retention=retention,
        encryption_key=encryption_key,
        removal_policy=RemovalPolicy.DESTROY,
    )
    stage.node.add_dependency(group)
    return group


def check_logging_props(manage_account_logging_role: bool, account_has_logging_role: bool) -> None:
    """ValueError unless exactly one of the two says where API Gateway's CloudWatch role comes from."""
    if manage_account_logging_role and account_has_logging_role:
        raise ValueError(
            "manage_account_logging_role=True and account_has_logging_role=True contradict each other: the first "
            "sets API Gateway's account-level CloudWatch role here, the second says it is set elsewhere; keep one"
        )
    if not (manage_account_logging_role or account_has_logging_role):
        raise ValueError(
            "manage_account_logging_role=False and account_has_logging_role=False: API Gateway writes the stage's "
            "access logs (and execution logs) with the account-level CloudWatch role, and a stage with access "
            "logging fails to create where none is set ('CloudWatch Logs role ARN must be set in account "
            "settings to enable logging'). Leave manage_account_logging_role=True to set it here, or pass "
            "account_has_logging_role=True where the account and region already have one"
        )


def logged_stage_options(
    stage_name: str,
    *,
    access_log_group: logs.ILogGroup,
    logging_level: apigw.MethodLoggingLevel,
    throttling_rate_limit: float,
    throttling_burst_limit: int,
) -> apigw.StageOptions:
    """A REST API stage as every API of this library has it: X-Ray tracing, metrics, execution logs at
    ``logging_level`` with request/response bodies never logged, a throttle, and a JSON access log of the
    standard fields in ``access_log_group``."""
    return apigw.StageOptions(
        stage_name=stage_name,
        tracing_enabled=True,
        metrics_enabled=True,
        logging_level=logging_level,
        data_trace_enabled=False,
        throttling_rate_limit=throttling_rate_limit,
        throttling_burst_limit=throttling_burst_limit,
        access_log_destination=apigw.LogGroupLogDestination(access_log_group),
        access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
            caller=True,
            http_method=True,
            ip=True,
            protocol=True,
            request_time=True,
            resource_path=True,
            response_length=True,
            status=True,
            user=True,
        ),
    )


@dataclass(frozen=True)
class AccessLogs:
    """An API's access log group, with the retention and key its stage's execution logs are to share."""

    log_group: logs.LogGroup
    retention: logs.RetentionDays
    encryption_key: kms.IKey | None


def access_logs(
    scope: Construct, retention: logs.RetentionDays | None, *, default: logs.RetentionDays, prop: str
) -> AccessLogs:
    """The ``AccessLogs`` group of every API of this library, deleted with the stack: ``retention`` (else
    ``default``; at least the strict minimum under the strict profile, else a ``ValueError`` naming ``prop``),
    encrypted with the stack's logs key under the strict profile."""
    kept = log_retention(scope, retention, default=default, prop=prop)
    key = logs_key(scope) if is_strict(scope) else None
    group = logs.LogGroup(scope, "AccessLogs", retention=kept, encryption_key=key, removal_policy=RemovalPolicy.DESTROY)
    return AccessLogs(group, kept, key)
