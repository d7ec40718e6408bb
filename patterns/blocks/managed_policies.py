"""Roles whose permissions live in customer-managed policies instead of inline ones.

The NIST 800-53 R5, HIPAA Security and PCI DSS packs refuse inline policies (``AWS::IAM::Policy`` and a
role's ``Policies``). Under the strict profile the building blocks make their roles with
``managed_policy_role``: every grant (``table.grant(...)``, ``key.grant(...)``, ``add_to_principal_policy``)
then lands in one customer-managed policy of the role, and ``separate_policy`` makes the policies kept
apart on purpose (e.g. a wildcard that must not share an acknowledgement) managed too.
"""

from __future__ import annotations

from typing import Optional, Sequence

from aws_cdk import aws_iam as iam
from constructs import Construct

from ..compliance import is_strict


class _ManagedPolicyRole(iam.Role):
    """A role whose added statements go to its own customer-managed policy, ``Grants``."""

    _grants: Optional[iam.ManagedPolicy] = None

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        if self._grants is None:
            self._grants = iam.ManagedPolicy(self, "Grants", roles=[self])
        self._grants.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self._grants)


def managed_policy_role(scope: Construct, id: str, **props) -> iam.Role:
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
