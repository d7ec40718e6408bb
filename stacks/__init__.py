"""Demo stacks: thin compositions of the patterns, each deployable as it stands."""

from .api_lambda_table_demo import ApiLambdaTableDemo
from .building_blocks_demo import BuildingBlocksDemo
from .fanout_demo import FanoutDemo

#: Every demo stack the app synthesizes, by name.
DEMO_STACKS = {
    "ApiLambdaTableDemo": ApiLambdaTableDemo,
    "BuildingBlocksDemo": BuildingBlocksDemo,
    "FanoutDemo": FanoutDemo,
}

__all__ = ["DEMO_STACKS", "ApiLambdaTableDemo", "BuildingBlocksDemo", "FanoutDemo"]
