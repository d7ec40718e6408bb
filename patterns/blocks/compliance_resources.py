"""Resources the strict compliance profile adds once per stack, and the key hardening it applies.

Each is made on first use in the stack of the construct that asks (a nested stack has its own), so
a stack holds one logs key however many log groups it encrypts, and one backup plan however many
tables it backs up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jsii
from aws_cdk import ArnFormat, Duration, Fn, IStableListProducer, Lazy, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct, IConstruct

from ..compliance import is_strict
from .nag import acknowledge

_T = TypeVar("_T", bound=Construct)


def per_stack(scope: IConstruct, id: str, kind: type[_T], make: Callable[[Stack, str], _T]) -> _T:
    """The ``kind`` construct ``id`` of ``scope``'s stack (a nested stack has its own), made on first use."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(id)
    if isinstance(existing, kind):
        return existing
    return make(stack, id)


def stack_instance_id(scope: IConstruct) -> str:
    """The UUID CloudFormation gives ``scope``'s stack when it creates it (the last part of the stack's id).

    A name built from it is unique to one deployment of the stack: two stacks of the same construct
    ids under different stack names, or a stack deleted and created again, get different names,
    where a name built from the construct path would collide (with a retained resource's, too).
    """
    return Fn.select(2, Fn.split("/", Stack.of(scope).stack_id))


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


def rotating_key(scope: Construct, id: str, *, description: str, removal_policy: RemovalPolicy) -> kms.Key:
    """A customer-managed key that a construct makes for its own resources: yearly rotation, and under
    the strict profile a policy that lets only AWS services create grants on it."""
    key = kms.Key(scope, id, enable_key_rotation=True, description=description, removal_policy=removal_policy)
    if is_strict(scope):
        restrict_grants_to_aws_services(key)
    return key


def logs_key(scope: IConstruct) -> kms.Key:
    """The customer-managed key that encrypts the log groups of ``scope``'s stack.

    CloudWatch Logs (``logs.<region>.amazonaws.com``) may use it for this account's log groups of
    this region only (the ``kms:EncryptionContext:aws:logs:arn`` condition). The key is retained
    when the stack is deleted: a log group kept beyond the stack (``log_removal_policy=RETAIN``)
    stays readable only as long as the key that encrypts it exists.
    """
    return per_stack(scope, _LOGS_KEY_ID, kms.Key, _new_logs_key)


def _new_logs_key(stack: Stack, id: str) -> kms.Key:
    key = kms.Key(
        stack,
        id,
        enable_key_rotation=True,
        description=f"Encrypts the CloudWatch log groups of stack {stack.stack_name}",
        removal_policy=RemovalPolicy.RETAIN,
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


_BACKUP_ID = "StrictBackup"
#: How long the strict profile's daily table backups are kept: 35 days, as long as DynamoDB's
#: point-in-time recovery window, so a table can be brought back to any second (PITR) or, from the
#: vault, to any day of the same span, even after the table itself was deleted. Storage grows
#: with it: a DynamoDB backup is a full copy, so about 35 copies of each table are kept.
STRICT_BACKUP_RETENTION = Duration.days(35)
#: The AWS managed policy AWS Backup documents for the role it backs resources up with (backups only:
#: restores take ``AWSBackupServiceRolePolicyForRestores`` or AWS Backup's default role).
BACKUP_SERVICE_POLICY = "service-role/AWSBackupServiceRolePolicyForBackup"
#: Prefixes of the vault's and the plan's names, each followed by ``stack_instance_id`` (36 characters):
#: both names may have at most 50 (vaults: letters, digits, '-' and '_'; plans: also '.').
BACKUP_VAULT_NAME_PREFIX = "strict-vault-"
BACKUP_PLAN_NAME_PREFIX = "strict-plan-"


class StrictBackup(Construct):
    """The AWS Backup plan of one stack under the strict profile; get it with ``backup_plan(scope)``.

    What it makes:
      * ``key``: the KMS key (rotation on, grants for AWS services only) of ``vault``: it encrypts
        the DynamoDB backups when the account has AWS Backup's advanced DynamoDB backup turned on
        (otherwise a backup keeps the table's own encryption);
      * ``vault``: where the recovery points are kept, named ``strict-vault-<stack UUID>``;
      * ``plan``: ``strict-plan-<stack UUID>``, one rule: a backup every day at 05:00 UTC kept
        ``STRICT_BACKUP_RETENTION``;
      * ``role``: what AWS Backup backs up with (``BACKUP_SERVICE_POLICY``);
      * ``selection``: the resources backed up, by ARN (``add_table``): one selection per stack,
        however many tables (a selection holds up to 500 ARNs).

    The vault and its key are retained when the stack is deleted: the backups are there to outlive
    their tables (CloudFormation cannot delete a vault that holds recovery points anyway). The
    names end in the stack's UUID (``stack_instance_id``), so the same stack under another name, or
    created again after a deletion, makes a vault and a plan of its own beside the retained ones.
    """

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            description=f"Encrypts the AWS Backup vault of stack {stack.stack_name}",
            removal_policy=RemovalPolicy.RETAIN,
        )
        restrict_grants_to_aws_services(self.key)
        instance = stack_instance_id(self)
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=f"{BACKUP_VAULT_NAME_PREFIX}{instance}",
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.plan = backup.BackupPlan(
            self,
            "Plan",
            backup_plan_name=f"{BACKUP_PLAN_NAME_PREFIX}{instance}",
            backup_vault=self.vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="Daily",
                    schedule_expression=events.Schedule.cron(hour="5", minute="0"),
                    delete_after=STRICT_BACKUP_RETENTION,
                )
            ],
        )
        service_policy = iam.ManagedPolicy.from_aws_managed_policy_name(BACKUP_SERVICE_POLICY)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            managed_policies=[service_policy],
            description=f"AWS Backup backs up the resources of stack {stack.stack_name} with this role",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM4",
            "AWSBackupServiceRolePolicyForBackup is the policy AWS Backup documents for its backup role; "
            "AWS keeps it current with what each service's backup jobs call, and the role can be "
            "assumed by AWS Backup only.",
            findings=[f"Policy::{service_policy.managed_policy_arn}"],
        )
        self._table_arns: list[str] = []
        self.selection = backup.CfnBackupSelection(
            self,
            "Selection",
            backup_plan_id=self.plan.backup_plan_id,
            backup_selection=backup.CfnBackupSelection.BackupSelectionResourceTypeProperty(
                iam_role_arn=self.role.role_arn,
                selection_name="Tables",
                resources=Lazy.list(_ListOf(self._table_arns)),
            ),
        )

    def add_table(self, table: dynamodb.ITable) -> None:
        """Back ``table`` up daily, selected by its ARN (what the NIST and HIPAA packs look for)."""
        self._table_arns.append(table.table_arn)


@jsii.implements(IStableListProducer)
class _ListOf:
    """Produces the list it was given as it is at synthesis (one selection for every table added)."""

    def __init__(self, items: list[str]) -> None:
        self._items = items

    def produce(self) -> list[str]:
        return list(self._items)


def backup_plan(scope: IConstruct) -> StrictBackup:
    """The AWS Backup plan of ``scope``'s stack, made on first use (one per stack)."""
    return per_stack(scope, _BACKUP_ID, StrictBackup, StrictBackup)
