"""serverless-patterns: secure-by-default AWS CDK constructs for serverless applications.

Patterns (L3 constructs): ``ApiLambdaTable``, ``FanoutQueue``, ``CanaryFunction``,
``CognitoProtectedApi``;
``TableEventPublisher`` turns a table's stream into events;
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
    from .api_lambda_table import ITEMS_HANDLER_ACTIONS, ITEMS_SMOKE_TEST_EVENT, ApiLambdaTable, items_handler_environment
    from .blocks import AlarmTopic, SecureFunction, SecureQueue, SecureTable, SecureTopic, acknowledge, bundled_code
    from .canary_function import CanaryFunction, TrafficShift
    from .cognito_protected_api import CognitoProtectedApi
    from .fanout_queue import FanoutQueue, FanoutSubscriber
    from .global_table import GlobalTable
    from .regional_endpoint import RegionalEndpoint
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
    "TableEventPublisher": ".table_events",
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
    "AlarmRouting",
    "AlarmTopic",
    "ITEMS_HANDLER_ACTIONS",
    "ITEMS_SMOKE_TEST_EVENT",
    "ApiLambdaTable",
    "CanaryFunction",
    "CognitoProtectedApi",
    "FanoutQueue",
    "FanoutSubscriber",
    "GlobalTable",
    "RegionalEndpoint",
    "SecureFunction",
    "SecureQueue",
    "SecureTable",
    "SecureTopic",
    "TableEventPublisher",
    "TrafficShift",
    "acknowledge",
    "bundled_code",
    "items_handler_environment",
    "route_alarms",
]
