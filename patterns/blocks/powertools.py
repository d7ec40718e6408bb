"""Powertools for AWS Lambda (Python), attached from its official public layer."""

from __future__ import annotations

from aws_cdk import Stack, aws_lambda as lambda_
from constructs import Construct

#: The Powertools release the layer carries; it matches the version the handler tests run with.
POWERTOOLS_VERSION = "3.37.0"
#: Version number of the ``AWSLambdaPowertoolsPythonV3-*`` layer that holds ``POWERTOOLS_VERSION``.
POWERTOOLS_LAYER_VERSION = 0
#: AWS account that publishes the layer in the commercial regions.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"


def powertools_layer_arn(scope: Construct, runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> str:
    """The layer ARN for ``runtime`` and ``architecture`` in the region of ``scope``'s stack."""
    if runtime.family != lambda_.RuntimeFamily.PYTHON:
        raise ValueError(f"the Powertools Python layer needs a Python runtime, got {runtime.name}")
    python = runtime.name.replace(".", "")  # python3.14 -> python314
    arch = architecture.name  # "arm64" or "x86_64", as the layer names spell them
    region = Stack.of(scope).region
    return (
        f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-{python}-{arch}:{POWERTOOLS_LAYER_VERSION}"
    )


def powertools_layer(
    scope: Construct, id: str, runtime: lambda_.Runtime, architecture: lambda_.Architecture
) -> lambda_.ILayerVersion:
    """Reference the public Powertools layer (no resource is created)."""
    return lambda_.LayerVersion.from_layer_version_arn(
        scope, id, powertools_layer_arn(scope, runtime, architecture)
    )
