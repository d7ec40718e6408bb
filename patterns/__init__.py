"""serverless-patterns: secure-by-default AWS CDK constructs for serverless applications."""

from .blocks import (
    SecureFunction,
    SecureQueue,
    SecureTable,
    SecureTopic,
    acknowledge,
    bundled_code,
)

__all__ = [
    "SecureFunction",
    "SecureQueue",
    "SecureTable",
    "SecureTopic",
    "acknowledge",
    "bundled_code",
]
