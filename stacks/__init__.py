"""Demo stacks: thin compositions of the patterns, each deployable as it stands."""

from .api_lambda_table_demo import ApiLambdaTableDemo
from .building_blocks_demo import BuildingBlocksDemo
from .canary_demo import CanaryDemo
from .clickstream_demo import ClickstreamDemo
from .cognito_api_demo import CognitoApiDemo
from .fanout_demo import FanoutDemo
from .image_pipeline_demo import ImagePipelineDemo
from .items_service_demo import ItemsServiceDemo
from .order_saga_demo import OrderSagaDemo
from .scheduled_job_demo import ScheduledJobDemo

#: Every demo stack the app synthesizes, by name.
DEMO_STACKS = {
    "ApiLambdaTableDemo": ApiLambdaTableDemo,
    "BuildingBlocksDemo": BuildingBlocksDemo,
    "CanaryDemo": CanaryDemo,
    "ClickstreamDemo": ClickstreamDemo,
    "CognitoApiDemo": CognitoApiDemo,
    "FanoutDemo": FanoutDemo,
    "ImagePipelineDemo": ImagePipelineDemo,
    "ItemsServiceDemo": ItemsServiceDemo,
    "OrderSagaDemo": OrderSagaDemo,
    "ScheduledJobDemo": ScheduledJobDemo,
}

__all__ = [
    "DEMO_STACKS",
    "ApiLambdaTableDemo",
    "BuildingBlocksDemo",
    "CanaryDemo",
    "ClickstreamDemo",
    "CognitoApiDemo",
    "FanoutDemo",
    "ImagePipelineDemo",
    "ItemsServiceDemo",
    "OrderSagaDemo",
    "ScheduledJobDemo",
]
