"""Powertools for AWS Lambda (Python), attached from its official public layer at a pinned release."""

from __future__ import annotations

from aws_cdk import CfnDynamicReference, CfnDynamicReferenceService, aws_lambda as lambda_
from constructs import Construct

#: The Powertools release the layer carries; it matches the version the handler tests run with.
POWERTOOLS_VERSION = "3.37.0"


def powertools_layer_parameter(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> str:
    """The public SSM parameter holding the layer ARN of ``POWERTOOLS_VERSION``.

    Powertools publishes ``/aws/service/powertools/python/<arch>/<runtime>/<release>`` in every
    region it serves, valued with that region's
    ``arn:aws:lambda:<region>:017000801446:layer:AWSLambdaPowertoolsPythonV3-<python>-<arch>:<N>``.
    """
    if runtime.family != lambda_.RuntimeFamily.PYTHON:
        raise ValueError(f"the Powertools Python layer needs a Python runtime, got {runtime.name}")
    return f"/aws/service/powertools/python/{architecture.name}/{runtime.name}/{POWERTOOLS_VERSION}"


def powertools_layer_arn(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> str:
    """The layer ARN, resolved by CloudFormation in the stack's region at deploy time."""
    reference = CfnDynamicReference(
        CfnDynamicReferenceService.SSM, powertools_layer_parameter(runtime, architecture)
    )
    return reference.to_string()


def powertools_layer(
    scope: Construct, id: str, runtime: lambda_.Runtime, architecture: lambda_.Architecture
) -> lambda_.ILayerVersion:
    """Reference the public Powertools layer of ``POWERTOOLS_VERSION`` (no resource is created)."""
    return lambda_.LayerVersion.from_layer_version_arn(scope, id, powertools_layer_arn(runtime, architecture))
