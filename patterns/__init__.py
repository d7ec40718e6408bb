"""serverless-patterns: secure-by-default AWS CDK constructs for serverless applications.

Patterns (L3 constructs): ``ApiLambdaTable``, ``FanoutQueue``, ``CanaryFunction``,
``CognitoProtectedApi``.
Building blocks they are made of: ``SecureFunction``, ``SecureTable``, ``SecureQueue``,
``SecureTopic``; ``acknowledge`` records a cdk-nag acknowledgement with its reason;
``bundled_code`` gives the code of a handler shipped with the library.
"""

from .api_lambda_table import ITEMS_HANDLER_ACTIONS, ApiLambdaTable, items_handler_environment
from .canary_function import CanaryFunction, TrafficShift
from .cognito_protected_api import CognitoProtectedApi
from .fanout_queue import FanoutQueue, FanoutSubscriber
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
    "ApiLambdaTable",
    "CanaryFunction",
    "CognitoProtectedApi",
    "FanoutQueue",
    "FanoutSubscriber",
    "SecureFunction",
    "SecureQueue",
    "SecureTable",
    "SecureTopic",
    "TrafficShift",
    "acknowledge",
    "bundled_code",
    "items_handler_environment",
]
