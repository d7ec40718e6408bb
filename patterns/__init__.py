"""serverless-patterns: secure-by-default AWS CDK constructs for serverless applications.

Patterns (L3 constructs): ``ApiLambdaTable``, ``FanoutQueue``.
Building blocks they are made of: ``SecureFunction``, ``SecureTable``, ``SecureQueue``,
``SecureTopic``; ``acknowledge`` records a cdk-nag acknowledgement with its reason;
``bundled_code`` gives the code of a handler shipped with the library.
"""

from .api_lambda_table import ITEMS_HANDLER_ACTIONS, ApiLambdaTable
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
    "FanoutQueue",
    "FanoutSubscriber",
    "SecureFunction",
    "SecureQueue",
    "SecureTable",
    "SecureTopic",
    "acknowledge",
    "bundled_code",
]
