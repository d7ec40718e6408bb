"""The compliance profile a scope is built under: ``baseline`` (the default) or ``strict``.

``baseline`` is what every construct does on its own: clean under cdk-nag's AwsSolutions and
Serverless packs, with no cost that a small service would not expect. ``strict`` adds what the
NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1 packs and AWS Control Tower's proactive controls
ask for (customer-managed keys on log groups, a year of logs, tables in a backup plan, managed
instead of inline policies, reserved concurrency, a web ACL on APIs, ...), and acknowledges, one
construct and one rule at a time, what a pattern deliberately does not do.

Turn it on once, for a whole app or for one stage or stack, before the constructs are added::

    app = App(context={COMPLIANCE_CONTEXT: "strict"})            # or: cdk synth -c serverless-patterns:compliance=strict
    stack.node.set_context(COMPLIANCE_CONTEXT, "strict")           # one stack only, before its constructs

Constructs read it with ``compliance_of(self)`` when they are created.
"""

from __future__ import annotations

import enum
import functools
from typing import cast

from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

#: Context key naming the profile: ``baseline`` (default) or ``strict``.
COMPLIANCE_CONTEXT = "serverless-patterns:compliance"
#: Context key for the log retention strict applies (a ``logs.RetentionDays`` name, at least ``ONE_YEAR``).
STRICT_LOG_RETENTION_CONTEXT = "serverless-patterns:strictLogRetention"
#: The shortest log retention the strict profile accepts (NIST, HIPAA, PCI and Control Tower ask for a year).
STRICT_MINIMUM_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
#: Context key for the reserved concurrency strict gives a function that names none (a whole number, at least 1).
STRICT_RESERVED_CONCURRENCY_CONTEXT = "serverless-patterns:strictReservedConcurrency"
#: Reserved concurrency strict gives a function that names none, unless ``STRICT_RESERVED_CONCURRENCY_CONTEXT``
#: says otherwise (the NIST and HIPAA packs ask every function for a concurrency limit). 20 serves the 100
#: requests per second an ``ApiLambdaTable`` stage allows by default at up to 200 ms per request, and
#: bounds what a runaway caller can cost. It comes out of the account's regional pool, of which Lambda
#: keeps 100 unreserved; new accounts start with a smaller quota: raise it, or lower this by context.
STRICT_RESERVED_CONCURRENCY = 20
#: Reserved concurrency strict gives a function that runs only while a deployment does (a CodeDeploy
#: hook): one invocation per hook and deployment, with room for a retry.
STRICT_DEPLOYMENT_RESERVED_CONCURRENCY = 2


class Compliance(enum.Enum):
    """The profiles a scope can be built under."""

    BASELINE = "baseline"
    STRICT = "strict"


def compliance_of(scope: IConstruct) -> Compliance:
    """The profile ``scope`` is built under, from the ``COMPLIANCE_CONTEXT`` context value."""
    value = scope.node.try_get_context(COMPLIANCE_CONTEXT)
    if value is None:
        return Compliance.BASELINE
    if isinstance(value, Compliance):
        return value
    try:
        return Compliance(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(repr(profile.value) for profile in Compliance)
        raise ValueError(f"context {COMPLIANCE_CONTEXT} must be one of {choices}, got {value!r}") from None


def is_strict(scope: IConstruct) -> bool:
    """Whether ``scope`` is built under the strict profile."""
    return compliance_of(scope) is Compliance.STRICT


def log_retention(
    scope: IConstruct, requested: logs.RetentionDays | None, *, default: logs.RetentionDays, prop: str
) -> logs.RetentionDays:
    """The retention a log group made under ``scope`` gets.

    ``requested`` is the user's value of the prop named ``prop`` (None when not given). Baseline:
    ``requested`` or ``default``. Strict: ``requested`` if it keeps logs at least as long as the
    profile does (a year, or the ``STRICT_LOG_RETENTION_CONTEXT`` value), else a ``ValueError`` naming
    ``prop`` and the profile; not given, the profile's retention (never silently shorter).
    """
    if not is_strict(scope):
        return requested or default
    minimum = strict_log_retention(scope)
    if requested is None:
        return minimum
    if _days(requested) < _days(minimum):
        raise ValueError(
            f"{scope.node.path}: {prop}={requested.name} is shorter than the strict compliance profile's "
            f"{minimum.name} ({COMPLIANCE_CONTEXT}=strict): keep logs at least {minimum.name}, or build this "
            "scope under the baseline profile"
        )
    return requested


def strict_log_retention(scope: IConstruct) -> logs.RetentionDays:
    """The retention strict gives log groups: a year, or the ``STRICT_LOG_RETENTION_CONTEXT`` value."""
    value = scope.node.try_get_context(STRICT_LOG_RETENTION_CONTEXT)
    if value is None:
        return STRICT_MINIMUM_LOG_RETENTION
    try:
        retention = value if isinstance(value, logs.RetentionDays) else logs.RetentionDays[str(value)]
    except KeyError:
        raise ValueError(
            f"context {STRICT_LOG_RETENTION_CONTEXT} must name a logs.RetentionDays member such as ONE_YEAR, got {value!r}"
        ) from None
    if _days(retention) < _days(STRICT_MINIMUM_LOG_RETENTION):
        raise ValueError(
            f"context {STRICT_LOG_RETENTION_CONTEXT}={retention.name} is shorter than the strict profile's minimum "
            f"{STRICT_MINIMUM_LOG_RETENTION.name}"
        )
    return retention


def strict_reserved_concurrency(scope: IConstruct) -> int:
    """The reserved concurrency strict gives a function that names none: ``STRICT_RESERVED_CONCURRENCY``
    (20), or the ``STRICT_RESERVED_CONCURRENCY_CONTEXT`` value (a whole number of at least 1, e.g. from
    ``cdk synth -c serverless-patterns:strictReservedConcurrency=5``)."""
    value = scope.node.try_get_context(STRICT_RESERVED_CONCURRENCY_CONTEXT)
    if value is None:
        return STRICT_RESERVED_CONCURRENCY
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ValueError(
            f"context {STRICT_RESERVED_CONCURRENCY_CONTEXT} must be a whole number of at least 1 "
            f"(0 would stop every function), got {value!r}"
        )
    return int(text)


def strict_deployment_reserved_concurrency(scope: IConstruct) -> int:
    """What strict reserves for a deployment-time-only function: ``STRICT_DEPLOYMENT_RESERVED_CONCURRENCY``,
    or the ``STRICT_RESERVED_CONCURRENCY_CONTEXT`` value when that is smaller."""
    return min(STRICT_DEPLOYMENT_RESERVED_CONCURRENCY, strict_reserved_concurrency(scope))


def _days(retention: logs.RetentionDays) -> float:
    if retention is logs.RetentionDays.INFINITE:
        return float("inf")
    return float(_retention_days()[retention.name])


def _log_group(stack: Construct, retention: logs.RetentionDays) -> logs.CfnLogGroup:
    # A LogGroup's default child is always the CfnLogGroup it makes.
    return cast(logs.CfnLogGroup, logs.LogGroup(stack, retention.name, retention=retention).node.default_child)


@functools.lru_cache(maxsize=1)
def _retention_days() -> dict[str, int]:
    """Days of each ``logs.RetentionDays`` member, as the CDK renders them (``RetentionInDays``)."""
    from aws_cdk import App, Stack

    stack = Stack(App(), "RetentionDays")
    members = [member for member in logs.RetentionDays if member is not logs.RetentionDays.INFINITE]
    return {member.name: stack.resolve(_log_group(stack, member).retention_in_days) for member in members}
