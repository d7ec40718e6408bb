"""Demo stacks: thin compositions of the patterns, each deployable as it stands."""

from .api_lambda_table_demo import ApiLambdaTableDemo
from .building_blocks_demo import BuildingBlocksDemo
from .canary_demo import CanaryDemo
from .clickstream_demo import ClickstreamDemo
from .cognito_api_demo import CognitoApiDemo
from .fanout_demo import FanoutDemo
from .global_items_demo import REPLICA_STACK, GlobalItemsRegion, global_items_demo
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
    # Env-bound: builds this stack (first region) and GlobalItemsDemoReplica (second region).
    "GlobalItemsDemo": global_items_demo,
    "ImagePipelineDemo": ImagePipelineDemo,
    "ItemsServiceDemo": ItemsServiceDemo,
    "OrderSagaDemo": OrderSagaDemo,
    "ScheduledJobDemo": ScheduledJobDemo,
}

#: Stacks a DEMO_STACKS entry builds beside its own (each a demo stack too).
EXTRA_DEMO_STACKS = (REPLICA_STACK,)

__all__ = [
    "DEMO_STACKS",
    "EXTRA_DEMO_STACKS",
    "ApiLambdaTableDemo",
    "BuildingBlocksDemo",
    "CanaryDemo",
    "ClickstreamDemo",
    "CognitoApiDemo",
    "FanoutDemo",
    "GlobalItemsRegion",
    "ImagePipelineDemo",
    "ItemsServiceDemo",
    "OrderSagaDemo",
    "ScheduledJobDemo",
    "global_items_demo",
]
