"""What the strict compliance profile adds to a REST API whose methods proxy to a Lambda function:
the account each invoke permission is limited to, and what the stage deliberately does not do."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_

from .nag import acknowledge

_PACKS = ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")
_PUBLIC_ACCESS_CONTROL = "cfn-guard:lambda_function_public_access_prohibited_check"


def acknowledge_stage_rules(stage: apigw.Stage) -> None:
    """Acknowledge, on ``stage`` only, the stage rules that do not apply to a Lambda-proxy CRUD API."""
    for pack in _PACKS:
        acknowledge(
            stage,
            f"{pack}-APIGWCacheEnabledAndEncrypted",
            "No stage cache, on purpose: API Gateway keys cached responses by path and query (not by caller "
            "unless told), so one caller's items could be served to another, and a GET would keep serving "
            "an item for the cache's TTL (300 s by default) after a PUT or DELETE changed it. Nothing is "
            "stored at the stage that could need encrypting.",
        )
        acknowledge(
            stage,
            f"{pack}-APIGWSSLEnabled",
            "A stage's client certificate lets an HTTP backend verify that requests come from API Gateway "
            "(API Gateway developer guide, 'Generate and configure an SSL certificate for backend "
            "authentication'); every method here is an AWS_PROXY Lambda integration, invoked through the "
            "Lambda API with IAM, so there is no HTTP backend to present it to. Callers reach the stage "
            "over TLS only.",
        )


def limit_invoke_permissions_to_account(methods: Iterable[apigw.Method]) -> None:
    """Add ``SourceAccount`` (the stack's account) to the Lambda permissions ``methods`` made.

    Control Tower's CT.LAMBDA.PR.2 accepts a permission for a service principal when its
    ``SourceAccount`` is a literal string, or its ``SourceArn`` a literal string or a reference to a
    resource of the template; the CDK's ``SourceArn`` is a join naming the API, method and path, and
    an env-agnostic stack's account renders as ``{"Ref": "AWS::AccountId"}``. So an env-bound stack
    satisfies the control, and only an env-agnostic one acknowledges it, per permission.
    """
    for method in methods:
        account = Stack.of(method).account
        for permission in method.node.children:
            if not isinstance(permission, lambda_.CfnPermission):
                continue
            permission.source_account = account
            if Token.is_unresolved(account):
                acknowledge(
                    permission,
                    _PUBLIC_ACCESS_CONTROL,
                    "Not public: SourceArn limits invocation to this API's own method and path, and "
                    "SourceAccount to the stack's account; the control only recognizes literal values, "
                    "and this stack is env-agnostic, so its account is rendered as a reference.",
                )
