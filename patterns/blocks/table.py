"""A DynamoDB table with encryption, point-in-time recovery and on-demand capacity."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from ..compliance import is_strict
from .alarms import threshold_alarm
from .compliance_resources import StrictBackup, backup_plan

_OPERATIONS = [
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.DELETE_ITEM,
    dynamodb.Operation.QUERY,
    dynamodb.Operation.SCAN,
]


class SecureTable(Construct):
    """An on-demand table, KMS-encrypted, with point-in-time recovery and alarms.

    What it makes:
      * ``table``: the ``dynamodb.Table``;
      * ``throttles_alarm``: requests throttled on the item and query operations;
      * ``system_errors_alarm``: DynamoDB answered with a server-side error;
      * ``backup``: under the strict profile, the stack's AWS Backup plan (``StrictBackup``: daily,
        kept 35 days in a vault with its own key) that now backs this table up; None otherwise.

    Args:
        partition_key: default ``id`` (string).
        sort_key: default none.
        global_secondary_indexes: added as given (on-demand; projection as you set it).
        encryption_key: a customer-managed KMS key. Default: the AWS-managed key (``aws/dynamodb``).
        stream: emit a change stream with this view type. Default none.
        time_to_live_attribute: attribute holding an expiry epoch second. Default none.
        removal_policy: default RETAIN (data outlives the stack unless you say otherwise).
        deletion_protection: refuse DeleteTable. Default False.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        partition_key: dynamodb.Attribute = dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        sort_key: dynamodb.Attribute | None = None,
        global_secondary_indexes: Sequence[dynamodb.GlobalSecondaryIndexProps] = (),
        encryption_key: kms.IKey | None = None,
        stream: dynamodb.StreamViewType | None = None,
        time_to_live_attribute: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        deletion_protection: bool = False,
    ) -> None:
        super().__init__(scope, id)
        for label, attribute in (("partition_key", partition_key), ("sort_key", sort_key)):
            if attribute is not None and not attribute.name.strip():
                raise ValueError(f"{label} needs a non-empty attribute name")
        if sort_key is not None and sort_key.name == partition_key.name:
            raise ValueError(f"sort_key and partition_key must differ, both are {partition_key.name!r}")
        index_names = [index.index_name for index in global_secondary_indexes]
        if len(set(index_names)) != len(index_names):
            raise ValueError(f"global secondary index names must be unique, got {index_names}")
        if time_to_live_attribute is not None and not time_to_live_attribute.strip():
            raise ValueError("time_to_live_attribute must be a non-empty attribute name")

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=partition_key,
            sort_key=sort_key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED if encryption_key else dynamodb.TableEncryption.AWS_MANAGED
            ),
            encryption_key=encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            stream=stream,
            time_to_live_attribute=time_to_live_attribute,
            removal_policy=removal_policy,
            deletion_protection=deletion_protection,
        )
        for index in global_secondary_indexes:
            self.table.add_global_secondary_index(**_index_kwargs(index))
        self.backup: StrictBackup | None = None
        if is_strict(self):
            self.backup = backup_plan(self)
            self.backup.add_table(self.table)

        self.throttles_alarm = threshold_alarm(
            self,
            "ThrottlesAlarm",
            self.table.metric_throttled_requests_for_operations(operations=_OPERATIONS, period=Duration.minutes(1)),
            threshold=1,
            description=f"{self.node.path}: requests were throttled",
        )
        self.system_errors_alarm = threshold_alarm(
            self,
            "SystemErrorsAlarm",
            self.table.metric_system_errors_for_operations(operations=_OPERATIONS, period=Duration.minutes(1)),
            threshold=1,
            description=f"{self.node.path}: DynamoDB returned server-side errors",
        )

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        return [self.throttles_alarm, self.system_errors_alarm]


_INDEX_FIELDS = tuple(
    name for name in inspect.signature(dynamodb.GlobalSecondaryIndexProps.__init__).parameters if name != "self"
)


def _index_kwargs(index: dynamodb.GlobalSecondaryIndexProps) -> dict[str, Any]:
    """Every field the caller set on ``index``, whatever this CDK version supports."""
    return {name: getattr(index, name) for name in _INDEX_FIELDS if getattr(index, name, None) is not None}
