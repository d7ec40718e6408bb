"""The items API behind Cognito: read/write scopes per method, and only admins may delete."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from patterns import CognitoProtectedApi
from patterns.cognito_token import LOOPBACK_PORT, loopback_redirect_uri

#: CDK context naming the demo stacks' sign-in domains: ``-c signInDomainPrefix=acme`` gives
#: ``acme-items-api`` (this stack) and ``acme-items-service`` (ItemsServiceDemo). Default: unique
#: per deployed stack (``CognitoProtectedApi.unique_domain_prefix``).
SIGN_IN_DOMAIN_CONTEXT = "signInDomainPrefix"
#: The app client sends the browser back to ``python -m patterns.cognito_token`` on the loopback.
LOOPBACK_CALLBACK_URLS = (loopback_redirect_uri(),)
LOOPBACK_LOGOUT_URLS = (f"http://localhost:{LOOPBACK_PORT}/",)


def sign_in_domain_prefix(stack: Stack, name: str) -> str:
    """``<context value>-<name>`` when ``signInDomainPrefix`` is set, else a prefix unique to the stack."""
    base = stack.node.try_get_context(SIGN_IN_DOMAIN_CONTEXT)
    return f"{base}-{name}" if base else CognitoProtectedApi.unique_domain_prefix(stack, name)


def sign_in_outputs(stack: Stack, api: CognitoProtectedApi) -> None:
    """What a user needs to get a token: the domain, the client and the command that uses both."""
    if api.domain is None:
        raise ValueError("sign_in_outputs needs an api with a domain (domain_prefix=): tokens come from its endpoints")
    domain_url = api.domain.base_url()
    client_id = api.app_client.user_pool_client_id
    CfnOutput(stack, "SignInDomainUrl", value=domain_url)
    CfnOutput(stack, "AppClientId", value=client_id)
    CfnOutput(
        stack,
        "TokenCommand",
        value=f"python -m patterns.cognito_token --domain {domain_url} --client-id {client_id} "
        f"--scope {api.read_scope_name} --scope {api.write_scope_name}",
    )


class CognitoApiDemo(Stack):
    """Users sign in to a user pool; the items API checks their access token's scopes."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.items = CognitoProtectedApi(
            self,
            "Items",
            domain_prefix=sign_in_domain_prefix(self, "items-api"),
            callback_urls=LOOPBACK_CALLBACK_URLS,
            logout_urls=LOOPBACK_LOGOUT_URLS,
            removal_policy=RemovalPolicy.DESTROY,
            table_removal_policy=RemovalPolicy.DESTROY,
        )
        CfnOutput(self, "ItemsUrl", value=f"{self.items.api.url}items")
        CfnOutput(self, "UserPoolId", value=self.items.user_pool.user_pool_id)
        sign_in_outputs(self, self.items)
