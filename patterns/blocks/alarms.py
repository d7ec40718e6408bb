"""The one way the building blocks make an alarm: over a threshold, quiet when data is missing;
plus the function alarms every pattern with a function uses."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


def threshold_alarm(
    scope: Construct,
    id: str,
    metric: cloudwatch.IMetric,
    *,
    threshold: float,
    description: str,
    evaluation_periods: int = 1,
) -> cloudwatch.Alarm:
    """Alarm when ``metric`` reaches ``threshold``; missing data (no traffic) is not breaching."""
    return cloudwatch.Alarm(
        scope,
        id,
        metric=metric,
        threshold=threshold,
        evaluation_periods=evaluation_periods,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )


def function_errors_alarm(
    scope: Construct, id: str, function: lambda_.IFunction, *, threshold: float = 1, consequence: str = ""
) -> cloudwatch.Alarm:
    """Alarm when ``function`` (or an alias or version) returns ``threshold`` errors in a minute."""
    return threshold_alarm(
        scope,
        id,
        function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
        threshold=threshold,
        description=f"{function.node.path} returned errors{consequence}",
    )


def function_throttles_alarm(
    scope: Construct, id: str, function: lambda_.IFunction, *, threshold: float = 1, consequence: str = ""
) -> cloudwatch.Alarm:
    """Alarm when invocations of ``function`` (or an alias or version) are throttled ``threshold`` times in a minute."""
    return threshold_alarm(
        scope,
        id,
        function.metric_throttles(period=Duration.minutes(1), statistic="Sum"),
        threshold=threshold,
        description=f"{function.node.path} was throttled{consequence}",
    )
