"""Roles whose permissions live in customer-managed policies instead of inline ones.

The NIST 800-53 R5, HIPAA Security and PCI DSS packs refuse inline policies (``AWS::IAM::Policy`` and a
role's ``Policies``). Under the strict profile the building blocks make their roles with
``managed_policy_role``: every grant (``table.grant(...)``, ``key.grant(...)``, ``add_to_principal_policy``)
then lands in one customer-managed policy of the role, and ``separate_policy`` makes the policies kept
apart on purpose (e.g. a wildcard that must not share an acknowledgement) managed too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import jsii
from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct, IValidation

from ..compliance import is_strict

#: IAM's quota on one customer-managed policy document, in characters (white space not counted).
MANAGED_POLICY_MAX_CHARACTERS = 6144


class _ManagedPolicyRole(iam.Role):
    """A role whose added statements go to its own customer-managed policy, ``Grants``.

    ``Grants`` is one policy, so all of the role's grants share IAM's ``MANAGED_POLICY_MAX_CHARACTERS``;
    synth fails, naming the policy, when its document already measures more in the template.
    """

    _grants: iam.ManagedPolicy | None = None

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        if self._grants is None:
            self._grants = iam.ManagedPolicy(self, "Grants", roles=[self])
            self._grants.node.add_validation(_FitsManagedPolicyQuota(self._grants))
        self._grants.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self._grants)


@jsii.implements(IValidation)
class _FitsManagedPolicyQuota:
    """Fails synth when a managed policy's document is over IAM's quota as the template renders it.

    A best effort: ARNs that the template builds with ``Ref`` and ``Fn::GetAtt`` deploy longer or
    shorter than they render, so a document just under the quota here may still be refused.
    """

    def __init__(self, policy: iam.ManagedPolicy) -> None:
        self._policy = policy

    def validate(self) -> list[str]:
        document = Stack.of(self._policy).resolve(self._policy.document)
        size = len(json.dumps(document, separators=(",", ":")))
        if size <= MANAGED_POLICY_MAX_CHARACTERS:
            return []
        return [
            f"the policy document measures {size} characters, over IAM's quota of "
            f"{MANAGED_POLICY_MAX_CHARACTERS:,} for a managed policy; grant this role fewer resources or actions, "
            "or split the work across functions"
        ]


def managed_policy_role(scope: Construct, id: str, **props: Any) -> iam.Role:
    """An ``iam.Role`` (same props); under the strict profile its grants go to a managed policy."""
    if is_strict(scope):
        return _ManagedPolicyRole(scope, id, **props)
    return iam.Role(scope, id, **props)


def separate_policy(
    scope: Construct, id: str, *, statements: Sequence[iam.PolicyStatement], roles: Sequence[iam.IRole]
) -> Construct:
    """A policy of its own for ``roles``: inline (``iam.Policy``), or managed under the strict profile.

    Returns the policy construct; acknowledge findings on it and make resources depend on it.
    """
    if is_strict(scope):
        return iam.ManagedPolicy(scope, id, statements=list(statements), roles=list(roles))
    return iam.Policy(scope, id, statements=list(statements), roles=list(roles))
