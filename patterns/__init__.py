"""serverless-patterns: secure-by-default AWS CDK constructs for serverless applications.

Patterns (L3 constructs): ``ApiLambdaTable``, ``FanoutQueue``, ``CanaryFunction``,
``CognitoProtectedApi``, ``ObjectPipeline``, ``ScheduledJob``;
``TableEventPublisher`` turns a table's stream into events;
``StreamProcessor`` aggregates a stream in tumbling windows, exactly once (``StreamIngestionApi`` feeds it);
``SagaWorkflow`` runs ordered steps with retries and compensations (a Step Functions saga);
``GlobalTable`` and ``RegionalEndpoint`` make a multi-region active-active service.
Building blocks they are made of: ``SecureFunction``, ``SecureTable``, ``SecureQueue``,
``SecureTopic``, ``AlarmTopic``; ``route_alarms`` sends every alarm under a scope to someone;
``acknowledge`` records a cdk-nag acknowledgement with its reason;
``bundled_code`` gives the code of a handler shipped with the library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .alarm_routing import AlarmRouting, route_alarms
    from .api_lambda_table import (
        ITEMS_HANDLER_ACTIONS,
        ITEMS_SMOKE_TEST_EVENT,
        ApiLambdaTable,
        items_handler_environment,
    )
    from .blocks import AlarmTopic, SecureFunction, SecureQueue, SecureTable, SecureTopic, acknowledge, bundled_code
    from .canary_function import CanaryFunction, TrafficShift
    from .cognito_protected_api import CognitoProtectedApi
    from .fanout_queue import FanoutQueue, FanoutSubscriber
    from .global_table import GlobalTable
    from .object_pipeline import ObjectPipeline
    from .regional_endpoint import RegionalEndpoint
    from .saga_definition import SagaRetry
    from .saga_start_api import SagaApiOptions
    from .saga_workflow import SagaStep, SagaWorkflow
    from .scheduled_job import ScheduledJob
    from .stream_processor import StreamIngestionApi, StreamProcessor
    from .table_events import TableEventPublisher

# Each public name and the module defining it. They are imported on first use, so tools that need
# none of the CDK (``python -m patterns.local``) do not pay for loading aws_cdk and starting jsii.
_EXPORTS = {
    "AlarmRouting": ".alarm_routing",
    "route_alarms": ".alarm_routing",
    "AlarmTopic": ".blocks",
    "ITEMS_HANDLER_ACTIONS": ".api_lambda_table",
    "ITEMS_SMOKE_TEST_EVENT": ".api_lambda_table",
    "ApiLambdaTable": ".api_lambda_table",
    "items_handler_environment": ".api_lambda_table",
    "CanaryFunction": ".canary_function",
    "TrafficShift": ".canary_function",
    "CognitoProtectedApi": ".cognito_protected_api",
    "FanoutQueue": ".fanout_queue",
    "FanoutSubscriber": ".fanout_queue",
    "ObjectPipeline": ".object_pipeline",
    "TableEventPublisher": ".table_events",
    "ScheduledJob": ".scheduled_job",
    "StreamIngestionApi": ".stream_processor",
    "StreamProcessor": ".stream_processor",
    "SagaApiOptions": ".saga_start_api",
    "SagaRetry": ".saga_definition",
    "SagaStep": ".saga_workflow",
    "SagaWorkflow": ".saga_workflow",
    "GlobalTable": ".global_table",
    "RegionalEndpoint": ".regional_endpoint",
    "SecureFunction": ".blocks",
    "SecureQueue": ".blocks",
    "SecureTable": ".blocks",
    "SecureTopic": ".blocks",
    "acknowledge": ".blocks",
    "bundled_code": ".blocks",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "ITEMS_HANDLER_ACTIONS",
    "ITEMS_SMOKE_TEST_EVENT",
    "AlarmRouting",
    "AlarmTopic",
    "ApiLambdaTable",
    "CanaryFunction",
    "CognitoProtectedApi",
    "FanoutQueue",
    "FanoutSubscriber",
    "GlobalTable",
    "ObjectPipeline",
    "RegionalEndpoint",
    "SagaApiOptions",
    "SagaRetry",
    "SagaStep",
    "SagaWorkflow",
    "ScheduledJob",
    "SecureFunction",
    "SecureQueue",
    "SecureTable",
    "SecureTopic",
    "StreamIngestionApi",
    "StreamProcessor",
    "TableEventPublisher",
    "TrafficShift",
    "acknowledge",
    "bundled_code",
    "items_handler_environment",
    "route_alarms",
]
