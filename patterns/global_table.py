"""A DynamoDB global table (TableV2): one replica per region, each with its own customer-managed key.

The table lives in one stack (its *home* region); every other region's stack asks
``GlobalTable.table_for(stack)`` for its local replica. No CDK cross-region reference is made:
the table has a fixed physical name, so a replica is addressed by name in its own region, and
each replica region's key gets a fixed alias, which the table names by alias ARN.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import jsii
from aws_cdk import ArnFormat, Names, RemovalPolicy, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct, IValidation

from .blocks.compliance_resources import backup_plan, rotating_key
from .compliance import is_strict

_DEFAULT_KEY = dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_-]{3,200}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_MAX_DEFAULT_NAME = 64


class GlobalTableReplica(Construct):
    """What one replica region's stack holds for a ``GlobalTable``: the replica's key and a reference to it.

    Made by ``GlobalTable.table_for(stack)`` (once per stack), never directly.

    Attributes:
        key: the customer-managed key the replica in this region is encrypted with (rotation on, retained).
        alias: ``alias/global-table/<table name>``, which the table names when it creates the replica.
        table: the replica, as an ``ITableV2`` of this stack (ARN in this stack's region, ``key`` attached).

    Under the strict profile the stack's AWS Backup plan (``StrictBackup``) backs the replica up.
    """

    def __init__(self, scope: Construct, id: str, *, table_name: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.key = rotating_key(
            self,
            "Key",
            description=f"Encrypts the {Stack.of(self).region} replica of DynamoDB global table {table_name}",
            removal_policy=removal_policy,
        )
        self.alias = kms.Alias(self, "Alias", alias_name=key_alias_name(table_name), target_key=self.key)
        self.table = dynamodb.TableV2.from_table_attributes(
            self, "Table", table_name=table_name, encryption_key=self.key
        )
        if is_strict(self):
            backup_plan(self).add_table(self.table)


class GlobalTable(Construct):
    """A DynamoDB global table with a replica in each of ``regions``, secure by default.

    Build it in the stack of one of ``regions`` (its home region); in every other region, build a
    stack (same account) and call ``table_for(that_stack)``. Each stack must be bound to a concrete
    account and region (``env=``): replicas are per region by nature.

    Attributes:
        table: the ``dynamodb.TableV2`` (``AWS::DynamoDB::GlobalTable``): on-demand, point-in-time
            recovery and deletion protection on every replica, a stream, a fixed physical name.
        replica_regions: every region holding a replica, the home region first (DynamoDB counts the
            home region's copy as a replica too).
        key: the customer-managed key of the home region's replica.
        replica_keys: region -> key, for the home region and each region whose stack called ``table_for``.

    Args:
        regions: two or more distinct regions, including the stack's own.
        table_name: the physical name, the same in every region. Default: derived from the construct
            path (stable, at most 64 characters).
        partition_key: default ``id`` (string).
        sort_key: default none.
        stream: the stream's view type. Default NEW_AND_OLD_IMAGES (what global tables replicate from).
        deletion_protection: on every replica. Default True: a global table is the service's data
            in every region at once.
        removal_policy: of the table and of the keys. Default RETAIN.

    Under the strict profile each region's AWS Backup plan (``StrictBackup``, regional) backs up
    that region's replica: the home stack's here, each other region's in ``table_for``.

    Raises ValueError for an env-agnostic stack, fewer than two regions, a repeated region, a stack
    region not in ``regions``, or a table name DynamoDB or KMS aliases would refuse; at synth, when a
    replica region has no stack that called ``table_for`` (its key would not exist).

    The keys' alias names are fixed (``alias/global-table/<table name>``); a replica region's key and
    alias take their construct id from the table name, so renaming the home stack does not replace them.
    DynamoDB changes one replica per update: add or remove one region per deployment; removing a region
    deletes its replica (refused while its deletion protection is on); ``stream`` cannot change while
    the table has more than one replica.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        regions: Sequence[str],
        table_name: str | None = None,
        partition_key: dynamodb.Attribute = _DEFAULT_KEY,
        sort_key: dynamodb.Attribute | None = None,
        stream: dynamodb.StreamViewType = dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        deletion_protection: bool = True,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        check_bound(stack, "GlobalTable")
        check_regions(regions, stack.region)
        name = table_name or Names.unique_resource_name(self, max_length=_MAX_DEFAULT_NAME, separator="-")
        if not _TABLE_NAME.match(name):
            raise ValueError(
                f"table_name must be 3 to 200 of A-Z a-z 0-9 _ - (it also names the keys' aliases), got {name!r}"
            )
        for label, attribute in (("partition_key", partition_key), ("sort_key", sort_key)):
            if attribute is not None and not attribute.name.strip():
                raise ValueError(f"{label} needs a non-empty attribute name")

        self.replica_regions: tuple[str, ...] = (stack.region, *(r for r in regions if r != stack.region))
        self._name = name
        self.partition_key = partition_key
        self._removal_policy = removal_policy
        self._replicas: dict[str, GlobalTableReplica] = {}
        self.key = rotating_key(
            self,
            "Key",
            description=f"Encrypts the {stack.region} replica of DynamoDB global table {name}",
            removal_policy=removal_policy,
        )
        self.alias = kms.Alias(self, "KeyAlias", alias_name=key_alias_name(name), target_key=self.key)
        recovery = dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=name,
            partition_key=partition_key,
            sort_key=sort_key,
            billing=dynamodb.Billing.on_demand(),
            dynamo_stream=stream,
            point_in_time_recovery_specification=recovery,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(
                self.key,
                replica_key_arns={region: _alias_arn(stack, region, name) for region in self.replica_regions[1:]},
            ),
            replicas=[
                dynamodb.ReplicaTableProps(
                    region=region,
                    point_in_time_recovery_specification=recovery,
                    deletion_protection=deletion_protection,
                )
                for region in self.replica_regions[1:]
            ],
        )
        if is_strict(self):  # AWS Backup is regional: each region backs up its own replica
            backup_plan(self).add_table(self.table)
        self.node.add_validation(_EveryReplicaHasAKey(self))

    @property
    def table_name(self) -> str:
        """The physical name, the same in every region."""
        return self.table.table_name

    @property
    def replica_keys(self) -> dict[str, kms.IKey]:
        """Region -> the key of the replica there (regions whose stack has not called ``table_for`` are absent)."""
        return {self.replica_regions[0]: self.key, **{region: r.key for region, r in self._replicas.items()}}

    def table_for(self, stack: Stack) -> dynamodb.ITableV2:
        """The replica ``stack`` reads and writes: ``table`` in the home region, else a reference in ``stack``'s region.

        In another region, this makes (once per stack) the replica's key with its alias in ``stack``,
        and makes the table's stack depend on ``stack``: the key must exist before DynamoDB creates
        the replica with it. Grants on the returned table (``grant_read_write_data``...) name the
        replica's ARN and key in ``stack``'s region.

        Raises ValueError for an env-agnostic stack, another account, or a region without a replica.
        """
        home = Stack.of(self)
        check_bound(stack, "GlobalTable.table_for")
        if stack.account != home.account:
            raise ValueError(
                f"{stack.node.path} is in account {stack.account}, but global table {self.node.path} is in "
                f"{home.account}: its replicas are in one account"
            )
        if stack.region not in self.replica_regions:
            raise ValueError(
                f"{stack.node.path} is in {stack.region}, which is not one of the table's regions "
                f"{list(self.replica_regions)}"
            )
        if stack.region == home.region:
            return self.table
        replica = self._replicas.get(stack.region)
        if replica is None:
            # The id (so the key's and alias's logical ids) comes from the table's name, not from this construct's
            # path: renaming or moving the home stack must not replace the alias, whose name is fixed (a new alias
            # of the same name would be created before the old one is deleted, and fail with AlreadyExists).
            replica = GlobalTableReplica(
                stack,
                replica_construct_id(self._name),
                table_name=self.table.table_name,
                removal_policy=self._removal_policy,
            )
            self._replicas[stack.region] = replica
            home.add_stack_dependency(
                stack, f"the {stack.region} replica's key must exist before the replica is created"
            )
        elif Stack.of(replica) is not stack:
            raise ValueError(
                f"{Stack.of(replica).node.path} already holds the {stack.region} replica's key of {self.node.path}; "
                f"use that stack's table_for() result in {stack.node.path} too, or one stack per region"
            )
        return replica.table


def replica_construct_id(table_name: str) -> str:
    """The id of a table's ``GlobalTableReplica`` in a replica region's stack: from the table's (fixed) name only."""
    return f"GlobalTableReplica-{table_name}"


def key_alias_name(table_name: str) -> str:
    """The alias of a replica's key: the same in every region, so the table names it with no cross-region reference."""
    return f"alias/global-table/{table_name}"


def check_bound(stack: Stack, what: str) -> None:
    """Raise ValueError unless ``stack`` has a concrete account and region."""
    if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
        raise ValueError(
            f"{what} needs a stack bound to a concrete account and region (env=Environment(account=..., "
            f"region=...)); {stack.node.path} is env-agnostic, and replicas are per region by nature"
        )


def check_regions(regions: Sequence[str], stack_region: str) -> None:
    """Raise ValueError unless ``regions`` are two or more distinct region names including ``stack_region``."""
    regions = list(regions)
    if len(regions) < 2:
        raise ValueError(f"a global table needs at least two regions, got {regions}")
    repeated = sorted({region for region in regions if regions.count(region) > 1})
    if repeated:
        raise ValueError(f"each region holds one replica, but {repeated} is given more than once in {regions}")
    malformed = [region for region in regions if not isinstance(region, str) or not _REGION.match(region)]
    if malformed:
        raise ValueError(f"regions must be concrete region names like 'eu-west-1', got {malformed}")
    if stack_region not in regions:
        raise ValueError(f"the stack's region {stack_region} is not one of the table's regions {regions}")


def _alias_arn(stack: Stack, region: str, table_name: str) -> str:
    return stack.format_arn(
        service="kms",
        region=region,
        resource="alias",
        resource_name=key_alias_name(table_name).removeprefix("alias/"),
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


@jsii.implements(IValidation)
class _EveryReplicaHasAKey:
    """A synth-time check: each replica region's key is made by some stack's ``table_for`` call."""

    def __init__(self, table: GlobalTable) -> None:
        self._table = table

    def validate(self) -> list[str]:
        missing = [region for region in self._table.replica_regions[1:] if region not in self._table._replicas]
        if not missing:
            return []
        return [
            (
                f"no stack in {', '.join(missing)} called table_for() on {self._table.node.path}: the replica there "
                "would have no key; build a stack in each replica region and call table_for(that_stack)"
            )
        ]
