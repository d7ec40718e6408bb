"""serverless-patterns: secure-by-default AWS CDK constructs for serverless applications.

Patterns (L3 constructs): ``ApiLambdaTable``, ``FanoutQueue``, ``CanaryFunction``,
``CognitoProtectedApi``;
``TableEventPublisher`` turns a table's stream into events.
Building blocks they are made of: ``SecureFunction``, ``SecureTable``, ``SecureQueue``,
``SecureTopic``; ``acknowledge`` records a cdk-nag acknowledgement with its reason;
``bundled_code`` gives the code of a handler shipped with the library.
"""

from .api_lambda_table import ITEMS_HANDLER_ACTIONS, ITEMS_SMOKE_TEST_EVENT, ApiLambdaTable, items_handler_environment
from .canary_function import CanaryFunction, TrafficShift
from .cognito_protected_api import CognitoProtectedApi
from .fanout_queue import FanoutQueue, FanoutSubscriber
from .table_events import TableEventPublisher
from .blocks import (
    SecureFunction,
    SecureQueue,
    SecureTable,
    SecureTopic,
    acknowledge,
    bundled_code,
)

__all__ = [
    "ITEMS_HANDLER_ACTIONS",
    "ITEMS_SMOKE_TEST_EVENT",
    "ApiLambdaTable",
    "CanaryFunction",
    "CognitoProtectedApi",
    "FanoutQueue",
    "FanoutSubscriber",
    "SecureFunction",
    "SecureQueue",
    "SecureTable",
    "SecureTopic",
    "TableEventPublisher",
    "TrafficShift",
    "acknowledge",
    "bundled_code",
    "items_handler_environment",
]
