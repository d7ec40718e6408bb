"""Powertools for AWS Lambda (Python), attached from its official public layer at a pinned release."""

from __future__ import annotations

from aws_cdk import CfnDynamicReference, CfnDynamicReferenceService
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

#: The Powertools release the layer carries; it matches the version the handler tests run with.
POWERTOOLS_VERSION = "3.37.0"
#: Context key naming the Powertools layer ARN every function under a scope uses instead of the public
#: layer's SSM parameter, e.g. in a partition or region where that parameter is not published:
#: ``stack.node.set_context(POWERTOOLS_LAYER_CONTEXT, "arn:aws-cn:lambda:cn-north-1:...:layer:...:N")``
#: (before the constructs are added), or ``cdk synth -c serverless-patterns:powertoolsLayerArn=...``.
POWERTOOLS_LAYER_CONTEXT = "serverless-patterns:powertoolsLayerArn"


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
    reference = CfnDynamicReference(CfnDynamicReferenceService.SSM, powertools_layer_parameter(runtime, architecture))
    return reference.to_string()


def powertools_layer(
    scope: Construct, id: str, runtime: lambda_.Runtime, architecture: lambda_.Architecture
) -> lambda_.ILayerVersion:
    """Reference the public Powertools layer of ``POWERTOOLS_VERSION`` (no resource is created).

    The ``POWERTOOLS_LAYER_CONTEXT`` context value, when set on ``scope`` or above, is used instead.
    """
    override = scope.node.try_get_context(POWERTOOLS_LAYER_CONTEXT)
    if override is not None:
        if not isinstance(override, str) or not override.startswith("arn:") or ":layer:" not in override:
            raise ValueError(
                f"context {POWERTOOLS_LAYER_CONTEXT} must be a Lambda layer version ARN "
                f"(arn:<partition>:lambda:<region>:<account>:layer:<name>:<version>), got {override!r}"
            )
        return lambda_.LayerVersion.from_layer_version_arn(scope, id, override)
    return lambda_.LayerVersion.from_layer_version_arn(scope, id, powertools_layer_arn(runtime, architecture))
