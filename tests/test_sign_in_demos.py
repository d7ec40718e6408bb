"""The deployed Cognito demos can be signed in to: a pool domain, a client allowed the code grant with
the items scopes and the loopback redirect of ``python -m patterns.cognito_token``, and outputs
naming both (checked on the synthesized templates)."""

from __future__ import annotations

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from patterns.cognito_token import loopback_redirect_uri
from stacks import CognitoApiDemo, ItemsServiceDemo

DEMOS = {"CognitoApiDemo": "items-api", "ItemsServiceDemo": "items-service"}


@pytest.fixture(scope="module", params=sorted(DEMOS))
def demo(request, demo_app) -> tuple[str, dict]:
    return request.param, demo_app.template(request.param)


def only(template: dict, type_: str, prefix: str = "") -> tuple[str, dict]:
    (item,) = [(k, v) for k, v in template["Resources"].items() if v["Type"] == type_ and k.startswith(prefix)]
    return item


def app_client(template: dict) -> tuple[str, dict]:
    clients = [(k, v) for k, v in template["Resources"].items() if v["Type"] == "AWS::Cognito::UserPoolClient"]
    (item,) = [(k, v) for k, v in clients if "AppClient" in k]
    return item


def test_the_pool_has_a_domain_unique_to_the_deployed_stack(demo):
    name, template = demo
    pool_id, _ = only(template, "AWS::Cognito::UserPool")
    _, domain = only(template, "AWS::Cognito::UserPoolDomain")
    assert domain["Properties"]["UserPoolId"] == {"Ref": pool_id}
    # The stack id's whole UUID: its last group alone (the host-derived node field) is shared.
    stack_uuid = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    assert domain["Properties"]["Domain"] == {"Fn::Join": ["-", [DEMOS[name], stack_uuid]]}


def test_the_app_client_allows_the_code_grant_with_the_items_scopes(demo):
    _, template = demo
    server_id, _ = only(template, "AWS::Cognito::UserPoolResourceServer")
    _, client = app_client(template)
    props = client["Properties"]
    assert props["AllowedOAuthFlows"] == ["code"] and props["AllowedOAuthFlowsUserPoolClient"] is True
    assert props["GenerateSecret"] is False
    for scope in ("read", "write"):
        assert {"Fn::Join": ["", [{"Ref": server_id}, f"/{scope}"]]} in props["AllowedOAuthScopes"]
    assert "COGNITO" in props["SupportedIdentityProviders"]


def test_the_app_client_redirects_to_the_token_command_on_the_loopback(demo):
    _, template = demo
    _, client = app_client(template)
    assert client["Properties"]["CallbackURLs"] == [loopback_redirect_uri()] == ["http://localhost:8400/callback"]


def test_outputs_give_the_domain_url_the_client_and_the_token_command(demo):
    _, template = demo
    domain_id, _ = only(template, "AWS::Cognito::UserPoolDomain")
    client_id, _ = app_client(template)
    outputs = template["Outputs"]
    assert outputs["SignInDomainUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Ref": domain_id}, ".auth.", {"Ref": "AWS::Region"}, ".amazoncognito.com"]]
    }
    assert outputs["AppClientId"]["Value"] == {"Ref": client_id}
    command = outputs["TokenCommand"]["Value"]["Fn::Join"][1]
    assert command[0] == "python -m patterns.cognito_token --domain https://"
    assert {"Ref": client_id} in command and command[-1] == " --scope items/read --scope items/write"


@pytest.mark.parametrize(
    ("stack_class", "expected"), [(CognitoApiDemo, "acme-items-api"), (ItemsServiceDemo, "acme-items-service")]
)
def test_the_domain_prefix_can_be_named_with_context(stack_class, expected):
    stack = stack_class(App(context={"signInDomainPrefix": "acme"}), "Demo")
    Template.from_stack(stack).has_resource_properties("AWS::Cognito::UserPoolDomain", {"Domain": expected})


def test_a_context_prefix_with_a_reserved_word_is_refused_at_synth():
    with pytest.raises(ValueError, match="'acme-aws-items-api' contains 'aws'"):
        CognitoApiDemo(App(context={"signInDomainPrefix": "acme-aws"}), "Demo")
