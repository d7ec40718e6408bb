"""Alarms for the routing tests: an L2 on a test metric and a raw L1."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct


def alarm(scope: Construct, id: str) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope, id, metric=cloudwatch.Metric(namespace="Test", metric_name=id), threshold=1, evaluation_periods=1
    )


def l1_alarm(scope: Construct, id: str) -> cloudwatch.CfnAlarm:
    """A ``CfnAlarm`` made directly (no L2 around it), on metric ``Test/<id>``."""
    return cloudwatch.CfnAlarm(
        scope,
        id,
        comparison_operator="GreaterThanOrEqualToThreshold",
        evaluation_periods=1,
        threshold=1,
        namespace="Test",
        metric_name=id,
        period=60,
        statistic="Sum",
    )
