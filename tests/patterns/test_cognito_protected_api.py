"""CognitoProtectedApi: pool and client security, scopes per method, groups, composition, bad props."""

from __future__ import annotations

import re

import pytest
from aws_cdk import App, Aws, Duration, Environment, Fn, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from nag_check import nag_app, nag_findings
from stack_instances import rendered

from patterns import (
    CanaryFunction,
    CognitoProtectedApi,
    SecureFunction,
    SecureTable,
    bundled_code,
    items_handler_environment,
)


def new_stack() -> Stack:
    return Stack(App(), "Test")


@pytest.fixture(scope="module")
def default() -> tuple[CognitoProtectedApi, Template]:
    stack = new_stack()
    construct = CognitoProtectedApi(stack, "Items")
    return construct, Template.from_stack(stack)


def methods(template: Template) -> dict:
    return template.find_resources("AWS::ApiGateway::Method")


def test_exposes_pool_authorizer_api_and_clients(default):
    construct, _ = default
    assert construct.api is construct.items.api
    assert construct.app_client is not None and construct.machine_client is None
    assert construct.authorizer is not None and construct.user_pool is not None
    assert sorted(construct.groups) == ["admins", "readers"]


def test_user_pool_security_settings(default):
    _, template = default
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "UsernameAttributes": ["email"],
            "AutoVerifiedAttributes": ["email"],
            "MfaConfiguration": "ON",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "Policies": {
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireLowercase": True,
                    "RequireUppercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": True,
                    "TemporaryPasswordValidityDays": 3,
                }
            },
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
            "UserPoolTier": "PLUS",
            "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
            "DeletionProtection": "INACTIVE",
        },
    )
    template.has_resource("AWS::Cognito::UserPool", {"DeletionPolicy": "Retain"})


def test_public_client_uses_code_flow_without_secret_and_short_tokens(default):
    _, template = default
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthScopes": Match.array_with(["openid", "email"]),
            "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "AccessTokenValidity": 15,
            "IdTokenValidity": 15,
            "RefreshTokenValidity": 1440,
            "EnableTokenRevocation": True,
            "PreventUserExistenceErrors": "ENABLED",
        },
    )


def test_no_implicit_flow_anywhere(default):
    _, template = default
    for client in template.find_resources("AWS::Cognito::UserPoolClient").values():
        assert "implicit" not in client["Properties"].get("AllowedOAuthFlows", [])


def test_resource_server_has_read_and_write_scopes(default):
    _, template = default
    template.has_resource_properties(
        "AWS::Cognito::UserPoolResourceServer",
        {
            "Identifier": "items",
            "Scopes": [
                {"ScopeName": "read", "ScopeDescription": Match.any_value()},
                {"ScopeName": "write", "ScopeDescription": Match.any_value()},
            ],
        },
    )


def test_groups_are_created(default):
    _, template = default
    names = sorted(
        g["Properties"]["GroupName"] for g in template.find_resources("AWS::Cognito::UserPoolGroup").values()
    )
    assert names == ["admins", "readers"]


def test_every_method_has_the_authorizer_and_its_scopes_and_none_is_open(default):
    _, template = default
    (authorizer_id,) = template.find_resources("AWS::ApiGateway::Authorizer")
    found = methods(template)
    assert len(found) == 5
    for method in found.values():
        props = method["Properties"]
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert props["AuthorizerId"] == {"Ref": authorizer_id}
        expected = ["items/read"] if props["HttpMethod"] == "GET" else ["items/write"]
        assert props["AuthorizationScopes"] == expected


def test_authorizer_trusts_only_this_pool(default):
    _, template = default
    (pool_id,) = template.find_resources("AWS::Cognito::UserPool")
    template.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {"Type": "COGNITO_USER_POOLS", "ProviderARNs": [{"Fn::GetAtt": [pool_id, "Arn"]}]},
    )


def test_handler_is_told_which_group_may_delete(default):
    _, template = default
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({"ADMIN_GROUP": "admins"})}}
    )


def test_machine_client_uses_client_credentials_with_a_secret():
    stack = new_stack()
    construct = CognitoProtectedApi(stack, "Items", machine_client=True, domain_prefix="items-demo-123")
    template = Template.from_stack(stack)
    assert construct.machine_client is not None and construct.domain is not None
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"GenerateSecret": True, "AllowedOAuthFlows": ["client_credentials"], "AccessTokenValidity": 15},
    )
    template.has_resource_properties("AWS::Cognito::UserPoolDomain", {"Domain": "items-demo-123"})


def test_optional_mfa_and_deletion_protection_are_configurable():
    stack = new_stack()
    CognitoProtectedApi(stack, "Items", mfa=cognito.Mfa.OPTIONAL, deletion_protection=True, self_sign_up=True)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "MfaConfiguration": "OPTIONAL",
            "DeletionProtection": "ACTIVE",
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False},
        },
    )


def test_an_existing_pool_is_used():
    stack = new_stack()
    pool = cognito.UserPool(stack, "Existing")
    construct = CognitoProtectedApi(stack, "Items", user_pool=pool)
    assert construct.user_pool is pool
    Template.from_stack(stack).resource_count_is("AWS::Cognito::UserPool", 1)


def test_it_fronts_any_function_for_example_a_canary_alias():
    stack = new_stack()
    table = SecureTable(stack, "Table")
    canary = CanaryFunction(
        stack, "Fn", code=bundled_code("items_api"), environment=items_handler_environment(table.table)
    )
    construct = CognitoProtectedApi(stack, "Items", function=canary.alias, table=table.table)
    assert construct.items.function is canary.alias
    template = Template.from_stack(stack)
    (alias_id,) = template.find_resources("AWS::Lambda::Alias")
    for method in methods(template).values():
        assert {"Ref": alias_id} in method["Properties"]["Integration"]["Uri"]["Fn::Join"][1]


@pytest.mark.parametrize(
    "props",
    [
        {},
        {"mfa": cognito.Mfa.OPTIONAL, "machine_client": True, "domain_prefix": "items-demo-456"},
    ],
)
@pytest.mark.parametrize(
    "env", [None, Environment(account="111111111111", region="eu-west-1")], ids=["agnostic", "bound"]
)
def test_passes_the_nag_packs(tmp_path, props, env):
    app = nag_app(tmp_path)
    CognitoProtectedApi(
        Stack(app, "Composed", env=env), "Items", cors_allow_origins=["https://app.example.com"], **props
    )
    assert nag_findings(app)["violations"] == []


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"mfa": cognito.Mfa.OFF}, "REQUIRED or OPTIONAL"),
        ({"resource_server_id": "items api"}, "resource_server_id"),
        ({"groups": ("admins", "admins")}, "unique"),
        ({"groups": ("readers",)}, "admin_group 'admins' must be one of groups"),
        ({"callback_urls": ()}, "callback_urls needs at least one URL"),
        ({"callback_urls": ("http://example.com/cb",)}, "https://"),
        ({"logout_urls": ("ftp://x",)}, "https://"),
        ({"callback_urls": ("http://localhost.example.com/callback",)}, "http://localhost for development"),
        ({"domain_prefix": "Not_Valid"}, "domain_prefix"),
        ({"domain_prefix": "-items"}, "not starting or ending with a hyphen"),
        ({"domain_prefix": "x" * 64}, "1-63"),
        ({"access_token_validity": Duration.minutes(2)}, "access_token_validity"),
        ({"access_token_validity": Duration.days(2)}, "access_token_validity"),
    ],
)
def test_invalid_props_raise_a_clear_error(props, message):
    with pytest.raises(ValueError, match=message):
        CognitoProtectedApi(new_stack(), "Items", **props)


def test_plain_http_callback_on_localhost_is_accepted():
    stack = new_stack()
    CognitoProtectedApi(
        stack, "Items", callback_urls=["http://localhost:8400/callback"], logout_urls=["http://localhost/"]
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"CallbackURLs": ["http://localhost:8400/callback"], "LogoutURLs": ["http://localhost/"]},
    )


def test_existing_pool_with_new_pool_props_is_refused():
    stack = new_stack()
    pool = cognito.UserPool(stack, "Existing")
    with pytest.raises(ValueError, match="user_pool= was given, so mfa, deletion_protection"):
        CognitoProtectedApi(stack, "Items", user_pool=pool, mfa=cognito.Mfa.REQUIRED, deletion_protection=True)


@pytest.mark.parametrize("prefix", ["items-aws-demo", "amazon-items", "mycognito", "laws-firm", "items-amazon-aws"])
def test_domain_prefix_with_a_word_cognito_reserves_is_refused(prefix):
    with pytest.raises(ValueError, match=r"Cognito reserves the words aws, amazon, cognito"):
        CognitoProtectedApi(new_stack(), "Items", domain_prefix=prefix)


@pytest.mark.parametrize("prefix", ["items", "items-demo-123", "a", "0-9", "x" * 63])
def test_domain_prefix_cognito_accepts_is_used(prefix):
    stack = new_stack()
    CognitoProtectedApi(stack, "Items", domain_prefix=prefix)
    Template.from_stack(stack).has_resource_properties("AWS::Cognito::UserPoolDomain", {"Domain": prefix})


def rendered_unique_prefix(name: str, stack_id: str) -> str:
    stack = new_stack()
    CognitoProtectedApi(stack, "Items", domain_prefix=CognitoProtectedApi.unique_domain_prefix(stack, name))
    (domain,) = Template.from_stack(stack).find_resources("AWS::Cognito::UserPoolDomain").values()
    return rendered(domain["Properties"]["Domain"], stack_id=stack_id)


# Version-1 UUIDs: the last group is the node field, derived from the host, shared by many stacks
# and accounts; what differs between two stacks is the time (time_low is the first group).
SAME_NODE = (
    "arn:aws:cloudformation:eu-west-1:111111111111:stack/Demo/1c2fa620-982a-11e3-aff7-50e2416294e0",
    "arn:aws:cloudformation:eu-west-1:222222222222:stack/Demo/7d3e9b10-982a-11e3-aff7-50e2416294e0",
)


def test_unique_domain_prefixes_of_stacks_sharing_the_uuid_node_field_differ():
    first, second = (rendered_unique_prefix("items", stack_id) for stack_id in SAME_NODE)
    assert first == "items-1c2fa620-982a-11e3-aff7-50e2416294e0"
    assert first != second


def test_unique_domain_prefix_with_the_longest_name_fits_cognitos_63_characters():
    prefix = rendered_unique_prefix("x" * 26, SAME_NODE[0])
    assert len(prefix) == 63
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", prefix)


@pytest.mark.parametrize(
    ("name", "message"), [("my-cognito", "contains 'cognito'"), ("x" * 27, "1-26"), ("Items", "1-26")]
)
def test_unique_domain_prefix_refuses_a_name_cognito_would_refuse(name, message):
    with pytest.raises(ValueError, match=f"unique_domain_prefix name.*{message}"):
        CognitoProtectedApi.unique_domain_prefix(new_stack(), name)


def test_domain_prefix_token_is_left_to_cognito():
    stack = new_stack()
    prefix = Fn.join("-", ["items", Aws.ACCOUNT_ID])
    CognitoProtectedApi(stack, "Items", domain_prefix=prefix)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Cognito::UserPoolDomain", {"Domain": {"Fn::Join": ["-", ["items", {"Ref": "AWS::AccountId"}]]}}
    )


def items_function(stack: Stack, table, **environment: str) -> lambda_.Function:
    return SecureFunction(
        stack, "Own", code=bundled_code("items_api"), environment={**items_handler_environment(table), **environment}
    ).function


def admin_group_of(template: Template, function_prefix: str):
    (function,) = [
        resource
        for logical_id, resource in template.find_resources("AWS::Lambda::Function").items()
        if logical_id.startswith(function_prefix)
    ]
    return function["Properties"]["Environment"]["Variables"].get("ADMIN_GROUP")


def test_a_function_of_this_app_is_told_the_admin_group():
    stack = new_stack()
    table = SecureTable(stack, "Table")
    CognitoProtectedApi(stack, "Items", function=items_function(stack, table.table), table=table.table)
    assert admin_group_of(Template.from_stack(stack), "Own") == "admins"


def test_the_function_behind_an_alias_is_told_the_admin_group():
    stack = new_stack()
    table = SecureTable(stack, "Table")
    canary = CanaryFunction(
        stack, "Fn", code=bundled_code("items_api"), environment=items_handler_environment(table.table)
    )
    CognitoProtectedApi(stack, "Items", function=canary.alias, table=table.table, admin_group="readers")
    assert admin_group_of(Template.from_stack(stack), "FnHandler") == "readers"


def test_a_function_already_told_the_same_admin_group_is_accepted():
    stack = new_stack()
    table = SecureTable(stack, "Table")
    function = items_function(stack, table.table, ADMIN_GROUP="admins")
    CognitoProtectedApi(stack, "Items", function=function.current_version, table=table.table)
    assert admin_group_of(Template.from_stack(stack), "Own") == "admins"


def test_a_function_with_another_admin_group_is_refused():
    stack = new_stack()
    table = SecureTable(stack, "Table")
    function = items_function(stack, table.table, ADMIN_GROUP="operators")
    with pytest.raises(ValueError, match=r"function= already has ADMIN_GROUP='operators' but admin_group='admins'"):
        CognitoProtectedApi(stack, "Items", function=function, table=table.table)


@pytest.mark.parametrize("kind", ["function", "alias of an imported version"])
def test_an_imported_function_with_admin_group_is_refused(kind):
    stack = new_stack()
    table = SecureTable(stack, "Table")
    arn = "arn:aws:lambda:eu-west-1:111111111111:function:items"
    function = lambda_.Function.from_function_arn(stack, "Imported", arn)
    if kind != "function":
        version = lambda_.Version.from_version_arn(stack, "ImportedVersion", f"{arn}:3")
        function = lambda_.Alias(stack, "Live", alias_name="live", version=version)
    with pytest.raises(ValueError, match=r"function= is an imported function.*admin_group='admins'.*admin_group=None"):
        CognitoProtectedApi(stack, "Items", function=function, table=table.table)


def test_an_imported_function_without_admin_group_is_accepted():
    stack = new_stack()
    table = SecureTable(stack, "Table")
    function = lambda_.Function.from_function_arn(
        stack, "Imported", "arn:aws:lambda:eu-west-1:111111111111:function:items"
    )
    construct = CognitoProtectedApi(
        stack, "Items", function=function, table=table.table, admin_group=None, table_actions=()
    )
    assert construct.items.function is function
