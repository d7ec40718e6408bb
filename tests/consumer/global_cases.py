"""Consumer-matrix cases of GlobalTable and RegionalEndpoint: env-bound by nature, one stack per region.

Built in the matrix app (``matrix.build_matrix_app`` calls ``add_global_cases``): two services in
one pair of bound stacks (so each construct is there twice, an endpoint in each region); one service
in the aws-cn and aws-us-gov partitions and in a Stage (the endpoint in its home region, the other
region holding its replica's key only, to keep the matrix's synth short). Each case has its own
account, so its API Gateway settings stacks are its own. Env-agnostic stacks are refused;
``test_global_matrix`` checks that.
"""

from __future__ import annotations

from aws_cdk import App, Environment, RemovalPolicy, Stack, Stage
from constructs import Construct

from patterns import ApiLambdaTable, GlobalTable, RegionalEndpoint, route_alarms
from patterns.blocks import POWERTOOLS_LAYER_CONTEXT

PARTITION_LITERALS = "@aws-cdk/core:enablePartitionLiterals"
ZONE = {"hosted_zone_id": "Z0123456789EXAMPLE", "zone_name": "example.com"}
CHINA_ZONE = {"hosted_zone_id": "Z0123456789EXAMPLE", "zone_name": "example.cn"}
BOUND_ACCOUNT, CHINA_ACCOUNT, GOVCLOUD_ACCOUNT, STAGE_ACCOUNT = (
    "444444444444",
    "555555555555",
    "666666666666",
    "777777777777",
)
CHINA_LAYER = f"arn:aws-cn:lambda:cn-north-1:{CHINA_ACCOUNT}:layer:PowertoolsPython:1"

#: Each case and the construct paths (stacks) it is made of, as ``matrix.CASES`` lists them.
GLOBAL_CASES = {
    "global-bound": ("GlobalHome", "GlobalEurope"),
    "global-aws-cn": ("GlobalPartitions/ChinaNorth", "GlobalPartitions/ChinaNorthwest"),
    "global-aws-us-gov": ("GlobalPartitions/GovWest", "GlobalPartitions/GovEast"),
    "global-stage": ("GlobalProd/Home", "GlobalProd/Europe"),
}


def global_service(
    stacks: list[Stack],
    *,
    name: str,
    domain_name: str,
    zone: dict[str, str],
    removal_policy: RemovalPolicy,
    endpoints: int = 2,
) -> GlobalTable:
    """One service over ``stacks`` (one per region, the first holding the table), the way the docs build it;
    the first ``endpoints`` regions get an API behind the shared name (the others only their replica)."""
    table = GlobalTable(stacks[0], f"{name}Table", regions=[s.region for s in stacks], removal_policy=removal_policy)
    for index, stack in enumerate(stacks):
        replica = table.table_for(stack)
        if index < endpoints:
            api = ApiLambdaTable(stack, f"{name}Api", table=replica)
            RegionalEndpoint(
                stack,
                f"{name}Endpoint",
                api=api.api,
                global_table=table,
                domain_name=domain_name,
                # Every region's HealthCheckStatus alarm in the home stack when it is in us-east-1, as the docs do.
                monitoring_stack=stacks[0] if stacks[0].region == "us-east-1" else None,
                **zone,
            )
    return table


def _pair(scope: Construct, ids: tuple[str, str], account: str, regions: tuple[str, str]) -> list[Stack]:
    return [
        Stack(scope, id, env=Environment(account=account, region=region))
        for id, region in zip(ids, regions, strict=True)
    ]


def add_global_cases(app: App) -> None:
    """The cases of ``GLOBAL_CASES`` in ``app``."""
    destroy = RemovalPolicy.DESTROY
    bound = _pair(app, ("GlobalHome", "GlobalEurope"), BOUND_ACCOUNT, ("us-east-1", "eu-west-1"))
    global_service(bound, name="Orders", domain_name="orders.example.com", zone=ZONE, removal_policy=destroy)
    global_service(bound, name="Users", domain_name="users.example.com", zone=ZONE, removal_policy=destroy)

    partitions = Stage(app, "GlobalPartitions")
    partitions.node.set_context(PARTITION_LITERALS, True)
    china = _pair(partitions, ("ChinaNorth", "ChinaNorthwest"), CHINA_ACCOUNT, ("cn-north-1", "cn-northwest-1"))
    for stack in china:  # the public Powertools layer's SSM parameter is not published there
        stack.node.set_context(POWERTOOLS_LAYER_CONTEXT, CHINA_LAYER.replace("cn-north-1", stack.region))
    global_service(
        china, name="Orders", domain_name="orders.example.cn", zone=CHINA_ZONE, removal_policy=destroy, endpoints=1
    )
    govcloud = _pair(partitions, ("GovWest", "GovEast"), GOVCLOUD_ACCOUNT, ("us-gov-west-1", "us-gov-east-1"))
    global_service(
        govcloud, name="Orders", domain_name="orders.example.com", zone=ZONE, removal_policy=destroy, endpoints=1
    )

    prod = Stage(app, "GlobalProd", env=Environment(account=STAGE_ACCOUNT, region="us-east-1"))
    staged = [Stack(prod, "Home"), Stack(prod, "Europe", env=Environment(account=STAGE_ACCOUNT, region="eu-west-1"))]
    global_service(
        staged, name="Orders", domain_name="orders.example.com", zone=ZONE, removal_policy=destroy, endpoints=1
    )
    for stack in [*bound, *china, *govcloud, *staged]:
        route_alarms(stack)
