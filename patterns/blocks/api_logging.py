"""API Gateway's account-level role for writing execution logs, made once per stack."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack, aws_apigateway as apigw, aws_iam as iam
from constructs import Construct

from .nag import acknowledge

_ID = "ApiGatewayCloudWatchRole"
# The actions of AWS's AmazonAPIGatewayPushToCloudWatchLogs policy, written out so the role
# carries no managed policy.
_LOG_ACTIONS = [
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "logs:PutLogEvents",
]


def api_gateway_account_logging(scope: Construct) -> apigw.CfnAccount:
    """The ``AWS::ApiGateway::Account`` setting that lets API Gateway write execution logs.

    The setting is per account and region; one is made per stack however many APIs it has,
    and it is retained when the stack is deleted (other APIs may rely on it).
    """
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(_ID)
    if existing is not None:
        return existing.node.find_child("Account")  # type: ignore[return-value]

    holder = Construct(stack, _ID)
    role = iam.Role(
        holder,
        "Role",
        assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
        description="Lets API Gateway write execution logs to CloudWatch Logs",
    )
    log_groups = stack.format_arn(
        service="logs", resource="log-group", resource_name="API-Gateway-Execution-Logs_*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    log_streams = f"{log_groups}:log-stream:*"
    any_log_group = stack.format_arn(
        service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    role.add_to_policy(iam.PolicyStatement(actions=_LOG_ACTIONS, resources=[log_groups, log_streams]))
    role.add_to_policy(iam.PolicyStatement(actions=["logs:DescribeLogGroups"], resources=[any_log_group]))
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "API Gateway names execution log groups itself (API-Gateway-Execution-Logs_<api-id>/<stage>) for every "
        "API of the account and region; the role can only be scoped to that name prefix, and listing log groups "
        "takes the log-group:* resource.",
        findings=[f"Resource::{arn}" for arn in (log_groups, log_streams, any_log_group)],
    )
    account = apigw.CfnAccount(holder, "Account", cloud_watch_role_arn=role.role_arn)
    account.apply_removal_policy(RemovalPolicy.RETAIN)
    return account
