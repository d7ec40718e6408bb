"""Resources the strict compliance profile adds once per stack, and the key hardening it applies.

Each is made on first use in the stack of the construct that asks (a nested stack has its own), so
a stack holds one logs key however many log groups it encrypts.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack, aws_iam as iam, aws_kms as kms
from constructs import IConstruct

_LOGS_KEY_ID = "StrictLogsKey"


def restrict_grants_to_aws_services(key: kms.Key) -> None:
    """Deny ``kms:CreateGrant`` on ``key`` unless an AWS service asks for a grant on its resource.

    What Control Tower's CT.KMS.PR.3 asks of every key policy: services such as DynamoDB, SQS or
    Lambda create grants for their own resources; nobody else needs to.
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CreateGrantOnlyForAWSResources",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
        )
    )


def logs_key(scope: IConstruct) -> kms.Key:
    """The customer-managed key that encrypts the log groups of ``scope``'s stack.

    CloudWatch Logs (``logs.<region>.amazonaws.com``) may use it for this account's log groups of
    this region only (the ``kms:EncryptionContext:aws:logs:arn`` condition). The key outlives no
    log group: it is destroyed with the stack, after KMS's waiting period.
    """
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(_LOGS_KEY_ID)
    if isinstance(existing, kms.Key):
        return existing
    key = kms.Key(
        stack,
        _LOGS_KEY_ID,
        enable_key_rotation=True,
        description=f"Encrypts the CloudWatch log groups of stack {stack.stack_name}",
        removal_policy=RemovalPolicy.DESTROY,
    )
    log_groups = stack.format_arn(
        service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsOfThisAccountAndRegion",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
            actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
        )
    )
    restrict_grants_to_aws_services(key)
    return key
