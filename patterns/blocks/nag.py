"""Acknowledge one cdk-nag finding on one construct, always with a reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws_cdk import Acknowledgment, Stack, Token, Validations
from constructs import IConstruct

# Rule prefix -> the name the report gives its plugin (the acknowledgement id's prefix): cdk-nag's
# packs, and AWS Control Tower's proactive controls run by cdk-validator-cfnguard (rule names in
# snake case, e.g. "lambda_inside_vpc_check", given as "cfn-guard:lambda_inside_vpc_check").
_PACKS = {
    "AwsSolutions-": "AwsSolutions",
    "Serverless-": "Serverless",
    "NIST.800.53.R5-": "NIST.800.53.R5",
    "HIPAA.Security-": "HIPAA.Security",
    "PCI.DSS.321-": "PCI.DSS.321",
}
_GUARD_PREFIX = "cfn-guard:"
_GUARD_PLUGIN = "cdk-validator-cfnguard"


def nag_ids(rule: str, findings: Sequence[str] = ()) -> list[str]:
    """The acknowledgement ids the validation report prints for ``rule`` (and each of its ``findings``)."""
    if rule.startswith(_GUARD_PREFIX) and len(rule) > len(_GUARD_PREFIX):
        return [f"{_GUARD_PLUGIN}::{rule[len(_GUARD_PREFIX) :]}"]
    pack = next((name for prefix, name in _PACKS.items() if rule.startswith(prefix) and len(rule) > len(prefix)), None)
    if pack is None:
        prefixes = ", ".join(f"{prefix}*" for prefix in _PACKS)
        raise ValueError(f"unknown rule {rule!r}: expected one of {prefixes} or {_GUARD_PREFIX}<rule_name>")
    if not findings:
        return [f"{pack}::{rule}"]
    return [f"{pack}::{rule}[{finding}]" for finding in findings]


def rendered_finding(scope: IConstruct, finding: str) -> str:
    """``finding`` as cdk-nag prints it for a resource of ``scope``'s stack.

    A finding may embed tokens, e.g. ``f"Resource::{stack.format_arn(...)}"``: cdk-nag reports the
    policy as the stack renders it, so an ARN reads ``arn:<AWS::Partition>:logs:<AWS::Region>:...``
    in an env-agnostic stack and ``arn:aws-cn:logs:cn-north-1:...`` in a stack bound to an aws-cn
    region. Resolving the same token here gives the id that matches in every environment.
    Tokens must belong to ``scope``'s stack (a reference to another stack only becomes an import
    later, at synth).
    """
    if not Token.is_unresolved(finding):
        return finding
    return _flatten(Stack.of(scope).resolve(finding))


def acknowledge(scope: IConstruct, rule: str, reason: str, *, findings: Sequence[str] = ()) -> None:
    """Acknowledge cdk-nag ``rule`` on ``scope`` and its children only.

    Args:
        scope: the construct the finding is reported on (keep it as narrow as possible).
        rule: the rule id, e.g. ``"AwsSolutions-IAM5"``, ``"Serverless-LambdaDLQ"``,
            ``"NIST.800.53.R5-LambdaInsideVPC"`` (also ``HIPAA.Security-*``, ``PCI.DSS.321-*``),
            or a Control Tower proactive control as ``"cfn-guard:lambda_inside_vpc_check"``.
        reason: why the finding is acceptable here; required and must say something.
        findings: for multi-finding rules, the exact findings (``"Resource::*"``,
            ``"Policy::arn:<AWS::Partition>:iam::aws:policy/..."``); without them the whole
            rule is acknowledged on ``scope``. Build a resource finding from the very value the
            policy grants on (``f"Resource::{arn}"``, tokens included) rather than spelling out
            how it renders: it then matches whatever account, region and partition the stack has.
    """
    if not reason or len(reason.strip()) < 10:
        raise ValueError(f"acknowledging {rule} on {scope.node.path} needs a reason of at least 10 characters")
    rendered = [rendered_finding(scope, finding) for finding in findings]
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=ack_id, reason=reason.strip()) for ack_id in nag_ids(rule, rendered))
    )


def _flatten(node: Any) -> str:
    """A resolved CloudFormation value as one string, the way cdk-nag names it in a finding:
    ``Ref`` -> ``<Name>``, ``Fn::GetAtt`` -> ``<Name.Attribute>``, joins joined, ``${x}`` -> ``<x>``."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter: str
            delimiter, items = node["Fn::Join"]
            return delimiter.join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return _flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))
