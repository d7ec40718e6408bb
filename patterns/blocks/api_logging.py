"""API Gateway's account-level CloudWatch role: one setting per account and region, in one stack of the app."""

from __future__ import annotations

from typing import Iterator, Optional

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Stage, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from .nag import acknowledge

_ID = "ApiGatewayCloudWatchRole"
# The actions of AWS's AmazonAPIGatewayPushToCloudWatchLogs policy, written out so the role carries
# no managed policy, each on the resource type the Service Authorization Reference authorizes it on.
_LOG_GROUP_ACTIONS = ["logs:CreateLogGroup", "logs:DescribeLogStreams", "logs:FilterLogEvents"]
_LOG_STREAM_ACTIONS = ["logs:CreateLogStream", "logs:GetLogEvents", "logs:PutLogEvents"]
_UNSCOPED_ACTIONS = ["logs:DescribeLogGroups"]  # takes no resource type


class ApiGatewayAccountLogging(Construct):
    """The ``AWS::ApiGateway::Account`` setting and the role it names, both retained.

    API Gateway keeps one CloudWatch role per account and region; execution logging of every REST
    API there needs it. Do not make this yourself: :func:`api_gateway_account_logging` makes at most
    one per account and region of the app and places it in the first top-level stack that asks.

    Attributes:
        role: the role API Gateway assumes to write execution logs (inline policy, retained).
        account: the ``CfnAccount`` setting (retained).
        account_id / region: the environment it is made for (tokens in an env-agnostic stack).
    """

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack, _ID)
        self.account_id = stack.account
        self.region = stack.region
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="API-Gateway-Execution-Logs_*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        log_streams = f"{log_groups}:log-stream:*"
        # An inline policy is part of the role resource, so the retained role keeps its permissions
        # when the stack is deleted (a separate AWS::IAM::Policy would be deleted with the stack).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="Lets API Gateway write execution logs to CloudWatch Logs (account-level setting)",
            inline_policies={
                "ExecutionLogs": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(actions=_LOG_GROUP_ACTIONS, resources=[log_groups]),
                        iam.PolicyStatement(actions=_LOG_STREAM_ACTIONS, resources=[log_streams]),
                        iam.PolicyStatement(actions=_UNSCOPED_ACTIONS, resources=["*"]),
                    ]
                )
            },
        )
        self.role.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "API Gateway names execution log groups itself (API-Gateway-Execution-Logs_<api-id>/<stage>) for every "
            "API of the account and region; the role can only be scoped to that name prefix (its groups and their "
            "streams), and logs:DescribeLogGroups supports no resource-level permissions.",
            findings=[f"Resource::{arn}" for arn in (log_groups, log_streams, "*")],
        )
        self.account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        # Retained with its role: other APIs of the account rely on the setting after this stack is gone.
        self.account.apply_removal_policy(RemovalPolicy.RETAIN)


def api_gateway_account_logging(scope: IConstruct) -> ApiGatewayAccountLogging:
    """The app's one account-level logging setting for ``scope``'s account and region.

    Made on first use in ``scope``'s top-level stack (a nested stack's parent); later callers in
    other stacks of the same stage get the same one and should depend on it (a stack dependency,
    so that stack deploys first). Env-agnostic stacks count as one environment.

    Raises ValueError when another stage of the app already has the setting for the same account
    and region: stages deploy separately, so neither could wait for the other.
    """
    stack = _top_level_stack(Stack.of(scope))
    stage = Stage.of(stack)
    for owner in _settings(scope.node.root):
        if _same_environment(owner, stack):
            if Stage.of(Stack.of(owner)).node.path != stage.node.path:
                raise ValueError(
                    f"{scope.node.path}: API Gateway's account-level CloudWatch role for {_describe(stack)} is "
                    f"already set by {owner.node.path} in another stage; stages deploy separately, so set it in "
                    "one place only: pass manage_account_logging_role=False and account_has_logging_role=True "
                    "here (and deploy that stage first), or bind the stages to their own environments."
                )
            return owner
    return ApiGatewayAccountLogging(stack)


def _top_level_stack(stack: Stack) -> Stack:
    while stack.nested_stack_parent is not None:
        stack = stack.nested_stack_parent
    return stack


def _settings(construct: IConstruct) -> Iterator[ApiGatewayAccountLogging]:
    """Every setting of the app: they are children of top-level stacks, so stacks are not searched further."""
    for child in construct.node.children:
        if isinstance(child, Stack):
            found: Optional[IConstruct] = child.node.try_find_child(_ID)
            if isinstance(found, ApiGatewayAccountLogging):
                yield found
        else:
            yield from _settings(child)


def _same_environment(owner: ApiGatewayAccountLogging, stack: Stack) -> bool:
    return owner.account_id == stack.account and owner.region == stack.region


def _describe(stack: Stack) -> str:
    if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
        return "env-agnostic stacks"
    return f"account {stack.account} region {stack.region}"


def stage_execution_logging(
    scope: Construct,
    stage: apigw.Stage,
    stage_name: str,
    *,
    level: apigw.MethodLoggingLevel,
    manage_account_logging_role: bool,
    account_has_logging_role: bool,
    retention: logs.RetentionDays,
) -> tuple[Optional[ApiGatewayAccountLogging], Optional[logs.LogGroup]]:
    """What ``stage``'s execution logging at ``level`` needs: the app's account setting (when managed
    here) and the stage's execution log group, both made before the stage; (None, None) when off."""
    if level == apigw.MethodLoggingLevel.OFF:
        reason = (
            "Execution logging is off: API Gateway can write it only once the account and region have its "
            "CloudWatch role, which this API was told neither to set nor to expect"
            if not (manage_account_logging_role or account_has_logging_role)
            else "Execution logging was turned off by the construct's user (execution_log_level=OFF)"
        )
        acknowledge(stage, "AwsSolutions-APIG6", f"{reason}; JSON access logs record every request meanwhile.")
        return None, None
    account_logging = None
    if manage_account_logging_role:
        account_logging = api_gateway_account_logging(scope)
        stage.node.add_dependency(account_logging.account)
    return account_logging, execution_log_group(scope, "ExecutionLogs", stage, stage_name, retention=retention)


def execution_log_group(
    scope: Construct, id: str, stage: apigw.Stage, stage_name: str, *, retention: logs.RetentionDays
) -> logs.LogGroup:
    """The log group API Gateway writes ``stage``'s execution logs to, made before the stage.

    API Gateway names it ``API-Gateway-Execution-Logs_<rest-api-id>/<stage>`` and, when it does
    not exist, creates it on first write with no retention and outside any stack. Made here, it
    has ``retention``, goes with the stack, and the stage waits for it.
    """
    group = logs.LogGroup(
        scope,
        id,
        # The stage's name as given, not stage.stage_name: that is a reference to the stage itself.
        log_group_name=f"API-Gateway-Execution-Logs_{stage.rest_api.rest_api_id}/{stage_name}",
        retention=retention,
        removal_policy=RemovalPolicy.DESTROY,
    )
    stage.node.add_dependency(group)
    return group


def check_logging_props(
    execution_log_level: Optional[apigw.MethodLoggingLevel], manage_account_logging_role: bool, account_has_logging_role: bool
) -> None:
    """ValueError when execution logging is asked for where API Gateway has no CloudWatch role to write it."""
    if manage_account_logging_role and account_has_logging_role:
        raise ValueError(
            "manage_account_logging_role=True and account_has_logging_role=True contradict each other: the first "
            "sets API Gateway's account-level CloudWatch role here, the second says it is set elsewhere; keep one"
        )
    role = manage_account_logging_role or account_has_logging_role
    if not role and execution_log_level not in (None, apigw.MethodLoggingLevel.OFF):
        raise ValueError(
            f"execution_log_level={execution_log_level.value} needs API Gateway's account-level CloudWatch role, "
            "but manage_account_logging_role=False and account_has_logging_role=False: the stage would fail to "
            "deploy. Set the role here (manage_account_logging_role=True), say the account has one "
            "(account_has_logging_role=True), or leave execution_log_level out (OFF; access logs are kept)"
        )
