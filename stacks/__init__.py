"""Demo stacks: thin compositions of the patterns, each deployable as it stands."""

from .api_lambda_table_demo import ApiLambdaTableDemo
from .building_blocks_demo import BuildingBlocksDemo
from .canary_demo import CanaryDemo
from .cognito_api_demo import CognitoApiDemo
from .fanout_demo import FanoutDemo
from .image_pipeline_demo import ImagePipelineDemo
from .items_service_demo import ItemsServiceDemo

#: Every demo stack the app synthesizes, by name.
DEMO_STACKS = {
    "ApiLambdaTableDemo": ApiLambdaTableDemo,
    "BuildingBlocksDemo": BuildingBlocksDemo,
    "CanaryDemo": CanaryDemo,
    "CognitoApiDemo": CognitoApiDemo,
    "FanoutDemo": FanoutDemo,
    "ImagePipelineDemo": ImagePipelineDemo,
    "ItemsServiceDemo": ItemsServiceDemo,
}

__all__ = ["DEMO_STACKS", "ApiLambdaTableDemo", "BuildingBlocksDemo", "CanaryDemo", "CognitoApiDemo", "FanoutDemo", "ImagePipelineDemo", "ItemsServiceDemo"]
