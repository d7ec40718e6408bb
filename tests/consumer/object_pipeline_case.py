"""How the consumer matrix builds ObjectPipeline: its upload grants served by an API the app already has."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from constructs import Construct

from patterns import ObjectPipeline


def object_pipeline(scope: Construct, api: apigw.RestApi | None) -> ObjectPipeline:
    """An image pipeline whose ``POST /uploads`` is added to ``api`` (e.g. an ``ApiLambdaTable``'s; None: its own); in the
    aws-cn and aws-us-gov regions, which have no CloudFront Origin Access Control, without the distribution."""
    region = Stack.of(scope).region
    delivery = not region.startswith(("cn-", "us-gov-"))
    return ObjectPipeline(scope, "Images", api=api, removal_policy=RemovalPolicy.DESTROY, delivery=delivery)
