"""Acknowledge one cdk-nag finding on one construct, always with a reason."""

from __future__ import annotations

from typing import Sequence

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

_PACKS = {"AwsSolutions-": "AwsSolutions", "Serverless-": "Serverless"}


def nag_ids(rule: str, findings: Sequence[str] = ()) -> list[str]:
    """The acknowledgement ids cdk-nag 3 prints for ``rule`` (and each of its ``findings``)."""
    pack = next((name for prefix, name in _PACKS.items() if rule.startswith(prefix)), None)
    if pack is None:
        raise ValueError(f"unknown cdk-nag rule {rule!r}: expected an AwsSolutions-* or Serverless-* rule")
    if not findings:
        return [f"{pack}::{rule}"]
    return [f"{pack}::{rule}[{finding}]" for finding in findings]


def acknowledge(scope: IConstruct, rule: str, reason: str, *, findings: Sequence[str] = ()) -> None:
    """Acknowledge cdk-nag ``rule`` on ``scope`` and its children only.

    Args:
        scope: the construct the finding is reported on (keep it as narrow as possible).
        rule: the rule id, e.g. ``"AwsSolutions-IAM5"`` or ``"Serverless-LambdaDLQ"``.
        reason: why the finding is acceptable here; required and must say something.
        findings: for multi-finding rules, the exact findings (``"Resource::*"``,
            ``"Policy::arn:<AWS::Partition>:iam::aws:policy/..."``); without them the whole
            rule is acknowledged on ``scope``.
    """
    if not reason or len(reason.strip()) < 10:
        raise ValueError(f"acknowledging {rule} on {scope.node.path} needs a reason of at least 10 characters")
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=ack_id, reason=reason.strip()) for ack_id in nag_ids(rule, findings))
    )
