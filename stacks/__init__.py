"""Demo stacks: thin compositions of the patterns, each deployable as it stands."""

from .api_lambda_table_demo import ApiLambdaTableDemo
from .building_blocks_demo import BuildingBlocksDemo
from .canary_demo import CanaryDemo
from .cognito_api_demo import CognitoApiDemo
from .fanout_demo import FanoutDemo
from .global_items_demo import REPLICA_STACK, GlobalItemsRegion, global_items_demo
from .items_service_demo import ItemsServiceDemo

#: Every demo stack the app synthesizes, by name.
DEMO_STACKS = {
    "ApiLambdaTableDemo": ApiLambdaTableDemo,
    "BuildingBlocksDemo": BuildingBlocksDemo,
    "CanaryDemo": CanaryDemo,
    "CognitoApiDemo": CognitoApiDemo,
    "FanoutDemo": FanoutDemo,
    "ItemsServiceDemo": ItemsServiceDemo,
    # Env-bound: builds this stack (first region) and GlobalItemsDemoReplica (second region).
    "GlobalItemsDemo": global_items_demo,
}

#: Stacks a DEMO_STACKS entry builds beside its own (each a demo stack too).
EXTRA_DEMO_STACKS = (REPLICA_STACK,)

__all__ = ["DEMO_STACKS", "ApiLambdaTableDemo", "BuildingBlocksDemo", "CanaryDemo", "CognitoApiDemo", "FanoutDemo", "ItemsServiceDemo", "EXTRA_DEMO_STACKS", "GlobalItemsRegion", "global_items_demo"]
