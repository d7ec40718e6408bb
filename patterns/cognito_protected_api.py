"""Users sign in with Cognito; the API lets in only valid tokens with the right scopes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

from aws_cdk import Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .api_lambda_table import ITEMS_HANDLER_ACTIONS, ApiLambdaTable
from .blocks import acknowledge
from .blocks.queue import function_behind

_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_GROUP_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
# Cognito's rule for a prefix domain (CreateUserPoolDomain): 1-63 lowercase letters, digits and
# hyphens, not starting or ending with a hyphen; and the developer guide reserves these words.
_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_DOMAIN_WORDS = ("aws", "amazon", "cognito")
_MAX_DOMAIN_PREFIX = 63
_UUID_LENGTH = 36  # 8-4-4-4-12 hex digits
#: The variable the items handler reads the name of the group allowed to delete from.
ADMIN_GROUP_VARIABLE = "ADMIN_GROUP"


class CognitoProtectedApi(Construct):
    """A Cognito user pool, its clients and scopes, and the items API behind its authorizer.

    With no props: a user pool (email sign-in, admin-created users, MFA required, threat
    protection), a resource server ``items`` with scopes ``items/read`` and ``items/write``,
    groups ``admins`` and ``readers``, a public app client (authorization code + PKCE), and an
    ``ApiLambdaTable`` whose GET methods need ``items/read``, whose POST/PUT/DELETE need
    ``items/write``, and whose handler lets only ``admins`` delete.

    Attributes:
        user_pool: the pool (yours if you passed ``user_pool=``).
        resource_server: the ``items`` resource server; ``read_scope`` / ``write_scope`` are its
            scopes as ``OAuthScope``s and ``read_scope_name`` / ``write_scope_name`` as strings.
        app_client: the public client; ``machine_client``: the confidential client or None.
        domain: the hosted sign-in domain, when ``domain_prefix`` is given.
        groups: ``CfnUserPoolGroup``s by name.
        authorizer: the ``CognitoUserPoolsAuthorizer``; it is bound to ``api``.
        items: the ``ApiLambdaTable``; ``api`` is its REST API.

    Args:
        user_pool: an existing pool. Then the pool props below must not be given.
        mfa: ``cognito.Mfa.REQUIRED`` (default) or ``OPTIONAL``; TOTP is the second factor.
        self_sign_up: let anyone create an account. Default False.
        deletion_protection: default False (demo stacks can be destroyed).
        removal_policy: of the pool. Default RETAIN.
        resource_server_id: identifier of the resource server. Default ``items``.
        groups: groups to create. Default ``("admins", "readers")``.
        admin_group: the group allowed to delete (checked by the items handler from the
            ``cognito:groups`` claim, named in its ``ADMIN_GROUP`` variable). Default ``admins``;
            must be one of ``groups``. ``None`` lets any caller with ``items/write`` delete.
            With ``function=``, ``ADMIN_GROUP`` is added to the function behind it (a
            ``lambda_.Function`` of this app, or an ``Alias``/``Version`` of one); a different
            value already set there is refused, and so is an imported function, whose
            environment this app cannot change (set ``ADMIN_GROUP`` on it yourself and pass
            ``admin_group=None``).
        callback_urls / logout_urls: where the public client may redirect after sign-in / out.
            Default ``https://localhost:3000/callback`` / ``https://localhost:3000/``.
        machine_client: also make a confidential client for the client-credentials flow.
        domain_prefix: a Cognito prefix domain (``<prefix>.auth.<region>.amazoncognito.com``),
            needed for the hosted sign-in and the OAuth endpoints. Unique in its region; 1-63
            lowercase letters, digits and hyphens, without the words Cognito reserves (``aws``,
            ``amazon``, ``cognito``). A token (e.g. ``unique_domain_prefix(...)``) is checked by
            Cognito at deploy. Default none (add your own domain).
        access_token_validity: default 15 minutes (also the ID token's); refresh tokens: 1 day.
        function / table / table_actions / table_removal_policy / cors_allow_origins: passed to the
            items API (``ApiLambdaTable``). ``function=`` takes any ``IFunction``, e.g.
            ``CanaryFunction.alias`` (see ``admin_group``); an imported one has no role this app can
            change: pass ``table_actions=()`` and grant the table where that function is defined.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        user_pool: cognito.IUserPool | None = None,
        mfa: cognito.Mfa | None = None,
        self_sign_up: bool | None = None,
        deletion_protection: bool | None = None,
        removal_policy: RemovalPolicy | None = None,
        resource_server_id: str = "items",
        groups: Sequence[str] = ("admins", "readers"),
        admin_group: str | None = "admins",
        callback_urls: Sequence[str] = ("https://localhost:3000/callback",),
        logout_urls: Sequence[str] = ("https://localhost:3000/",),
        machine_client: bool = False,
        domain_prefix: str | None = None,
        access_token_validity: Duration = Duration.minutes(15),
        function: lambda_.IFunction | None = None,
        table: dynamodb.ITable | None = None,
        table_removal_policy: RemovalPolicy | None = None,
        table_actions: Sequence[str] = ITEMS_HANDLER_ACTIONS,
        cors_allow_origins: Sequence[str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        _validate(
            user_pool=user_pool,
            pool_props={
                "mfa": mfa,
                "self_sign_up": self_sign_up,
                "deletion_protection": deletion_protection,
                "removal_policy": removal_policy,
            },
            resource_server_id=resource_server_id,
            groups=groups,
            admin_group=admin_group,
            callback_urls=callback_urls,
            logout_urls=logout_urls,
            domain_prefix=domain_prefix,
            access_token_validity=access_token_validity,
        )
        if user_pool is None:
            user_pool = self._user_pool(
                mfa=mfa or cognito.Mfa.REQUIRED,
                self_sign_up=bool(self_sign_up),
                deletion_protection=bool(deletion_protection),
                removal_policy=removal_policy or RemovalPolicy.RETAIN,
            )
        self.user_pool = user_pool

        read = cognito.ResourceServerScope(scope_name="read", scope_description="Read items")
        write = cognito.ResourceServerScope(scope_name="write", scope_description="Create, change and delete items")
        self.resource_server = user_pool.add_resource_server(
            "ResourceServer", identifier=resource_server_id, scopes=[read, write]
        )
        self.read_scope = cognito.OAuthScope.resource_server(self.resource_server, read)
        self.write_scope = cognito.OAuthScope.resource_server(self.resource_server, write)
        self.read_scope_name = f"{resource_server_id}/read"
        self.write_scope_name = f"{resource_server_id}/write"

        self.groups = {
            name: cognito.CfnUserPoolGroup(self, f"Group{name}", user_pool_id=user_pool.user_pool_id, group_name=name)
            for name in groups
        }
        self.domain = (
            user_pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix))
            if domain_prefix
            else None
        )
        self.app_client = self._app_client(callback_urls, logout_urls, access_token_validity)
        self.machine_client = self._machine_client(access_token_validity) if machine_client else None

        if function is not None and admin_group is not None:
            _tell_admin_group(function, admin_group)
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[user_pool], results_cache_ttl=Duration.minutes(5)
        )
        self.items = ApiLambdaTable(
            self,
            "Items",
            function=function,
            table=table,
            table_removal_policy=table_removal_policy,
            table_actions=table_actions,
            environment={ADMIN_GROUP_VARIABLE: admin_group} if admin_group and function is None else None,
            authorizer=self.authorizer,
            read_scopes=[self.read_scope_name],
            write_scopes=[self.write_scope_name],
            cors_allow_origins=cors_allow_origins,
        )
        self.api = self.items.api

    @staticmethod
    def unique_domain_prefix(scope: Construct, name: str) -> str:
        """A domain prefix no other deployment uses: ``<name>-<the stack id's UUID>``, a token.

        CloudFormation stack ids end with a version-1 UUID (36 lowercase hex digits and hyphens).
        Its last group is the node field, which is derived from the host that made it and shared
        by many stacks and accounts; the time fields are what differ. So the whole UUID is used:
        it differs for every stack in every account and region and stays the same for the
        stack's life (a stack created again gets a new domain). Hex digits cannot spell a word
        Cognito reserves, and the account id does not end up in a public host name. ``name``:
        1-26 lowercase letters, digits and hyphens (63 characters in all), without ``aws``,
        ``amazon``, ``cognito``.
        """
        _validate_domain_prefix(
            name, label="unique_domain_prefix name", max_length=_MAX_DOMAIN_PREFIX - len("-") - _UUID_LENGTH
        )
        stack_uuid = Fn.select(2, Fn.split("/", Stack.of(scope).stack_id))
        return Fn.join("-", [name, stack_uuid])

    def _user_pool(
        self, *, mfa: cognito.Mfa, self_sign_up: bool, deletion_protection: bool, removal_policy: RemovalPolicy
    ) -> cognito.UserPool:
        pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=self_sign_up,
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=mfa,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
        )
        if mfa != cognito.Mfa.REQUIRED:
            acknowledge(
                pool,
                "AwsSolutions-COG2",
                "MFA was set to optional by the construct's user (mfa=); users may enrol TOTP, and threat "
                "protection still challenges risky sign-ins.",
            )
        return pool

    def _app_client(
        self, callback_urls: Sequence[str], logout_urls: Sequence[str], validity: Duration
    ) -> cognito.UserPoolClient:
        return self.user_pool.add_client(
            "AppClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=False),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, self.read_scope, self.write_scope],
                callback_urls=list(callback_urls),
                logout_urls=list(logout_urls),
            ),
            access_token_validity=validity,
            id_token_validity=validity,
            refresh_token_validity=Duration.days(1),
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )

    def _machine_client(self, validity: Duration) -> cognito.UserPoolClient:
        return self.user_pool.add_client(
            "MachineClient",
            generate_secret=True,
            auth_flows=cognito.AuthFlow(),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[self.read_scope, self.write_scope],
            ),
            access_token_validity=validity,
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )


def _tell_admin_group(function: lambda_.IFunction, admin_group: str) -> None:
    """Set ``ADMIN_GROUP`` on the function behind ``function``, or refuse when that cannot be done.

    Never silent: without the variable the items handler would let every writer delete.
    """
    target = function_behind(function)
    if not isinstance(target, lambda_.Function):  # imported: its environment is not ours to change
        raise ValueError(
            f"function= is an imported function (or an alias or version of one), so admin_group={admin_group!r} "
            f"cannot be enforced: its environment is not this app's to change. Set {ADMIN_GROUP_VARIABLE}="
            f"{admin_group} on that function yourself and pass admin_group=None"
        )
    stack = Stack.of(target)
    # cfnProperties (protected in the CDK, public to jsii subclasses) renders the environment the
    # function has now, including what add_environment added. A Function's default child is its CfnFunction.
    resource = cast(lambda_.CfnFunction, target.node.default_child)
    rendered = stack.resolve(resource._cfn_properties.get("environment")) or {}
    current = (rendered.get("variables") or {}).get(ADMIN_GROUP_VARIABLE)
    if current is None:
        target.add_environment(ADMIN_GROUP_VARIABLE, admin_group)
    elif current != stack.resolve(admin_group):
        raise ValueError(
            f"function= already has {ADMIN_GROUP_VARIABLE}={current!r} but admin_group={admin_group!r}: "
            "give the same group to both, or pass admin_group=None to keep the function's"
        )


def _validate(
    *,
    user_pool: cognito.IUserPool | None,
    pool_props: Mapping[str, Any],
    resource_server_id: str,
    groups: Sequence[str],
    admin_group: str | None,
    callback_urls: Sequence[str],
    logout_urls: Sequence[str],
    domain_prefix: str | None,
    access_token_validity: Duration,
) -> None:
    if user_pool is not None:
        given = [name for name, value in pool_props.items() if value is not None]
        if given:
            raise ValueError(f"user_pool= was given, so {', '.join(given)} cannot be: they configure a new pool")
    mfa = pool_props["mfa"]
    if mfa is not None and mfa == cognito.Mfa.OFF:
        raise ValueError("mfa must be REQUIRED or OPTIONAL; turning it off is not offered")
    if not _SCOPE_NAME.match(resource_server_id):
        raise ValueError(f"resource_server_id must be 1-64 letters, digits, '-' or '_', got {resource_server_id!r}")
    if len(set(groups)) != len(groups) or any(not _GROUP_NAME.match(g) for g in groups):
        raise ValueError(f"groups must be unique Cognito group names, got {list(groups)}")
    if admin_group is not None and admin_group not in groups:
        raise ValueError(f"admin_group {admin_group!r} must be one of groups {list(groups)}")
    for label, urls in (("callback_urls", callback_urls), ("logout_urls", logout_urls)):
        if not urls:
            raise ValueError(f"{label} needs at least one URL")
        for url in urls:
            parts = urlsplit(url)
            if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname == "localhost")):
                raise ValueError(f"{label} must be https:// URLs (or http://localhost for development), got {url!r}")
    if domain_prefix is not None:
        _validate_domain_prefix(domain_prefix)
    minutes = access_token_validity.to_minutes()
    if not 5 <= minutes <= 24 * 60:
        raise ValueError("access_token_validity must be between 5 minutes and 1 day")


def _validate_domain_prefix(
    domain_prefix: str, label: str = "domain_prefix", max_length: int = _MAX_DOMAIN_PREFIX
) -> None:
    """Cognito's rule for a prefix domain; an unresolved token is checked by Cognito at deploy."""
    if Token.is_unresolved(domain_prefix):
        return
    if not _DOMAIN_PREFIX.match(domain_prefix) or len(domain_prefix) > max_length:
        raise ValueError(
            f"{label} must be 1-{max_length} lowercase letters, digits and hyphens, not starting or ending with a "
            f"hyphen, got {domain_prefix!r}"
        )
    reserved = [word for word in RESERVED_DOMAIN_WORDS if word in domain_prefix]
    if reserved:
        raise ValueError(
            f"{label} {domain_prefix!r} contains {', '.join(repr(w) for w in reserved)}: Cognito reserves "
            f"the words {', '.join(RESERVED_DOMAIN_WORDS)} in prefix domains; choose a prefix without them"
        )
