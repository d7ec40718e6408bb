"""The Lambda layer carrying Pillow for the bundled image processor, made from the local cache."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ..pillow_cache import PILLOW_VERSION, ready_layer_zip
from .function import DEFAULT_RUNTIME


def pillow_layer(scope: Construct, id: str) -> lambda_.LayerVersion:
    """Pillow (``patterns.pillow_cache``'s pinned arm64 wheel) as a layer for ``DEFAULT_RUNTIME`` on arm64.

    Reads the cache only; raises ``PillowLayerMissing`` (a ``ValueError``) naming the command that
    fills it when it is empty. A synth never downloads anything.
    """
    return lambda_.LayerVersion(
        scope,
        id,
        code=lambda_.Code.from_asset(str(ready_layer_zip())),
        compatible_runtimes=[DEFAULT_RUNTIME],
        compatible_architectures=[lambda_.Architecture.ARM_64],
        description=f"Pillow {PILLOW_VERSION} for Python {DEFAULT_RUNTIME.name} on arm64",
    )
