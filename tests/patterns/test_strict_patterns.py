"""ApiLambdaTable and CanaryFunction under the strict compliance profile: clean under the six rule sets
in env-agnostic and env-bound stacks, every acknowledgement used, and what strict adds to each."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack, Stage
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template
from nag_check import acknowledgements_made, acknowledgements_used
from stack_instances import TWO_STACKS, rendered
from strict_check import RULE_SETS, strict_app, synth_findings

from patterns import ITEMS_SMOKE_TEST_EVENT, ApiLambdaTable, CanaryFunction, SecureTable, route_alarms
from patterns.blocks.api_logging import ApiGatewayAccountLogging
from patterns.blocks.api_waf import MANAGED_RULE_GROUPS, WAF_LOG_GROUP_PREFIX, web_acl
from patterns.compliance import (
    COMPLIANCE_CONTEXT,
    STRICT_DEPLOYMENT_RESERVED_CONCURRENCY,
    STRICT_RESERVED_CONCURRENCY,
    STRICT_RESERVED_CONCURRENCY_CONTEXT,
)

STRICT = {COMPLIANCE_CONTEXT: "strict"}
ACCOUNT = "123456789012"
PUBLIC_ACCESS_ACK = "cdk-validator-cfnguard::lambda_function_public_access_prohibited_check"


def services(stack: Stack) -> None:
    """An items API fronting a canary (hooked) function, as the demo's items service is built."""
    table = SecureTable(stack, "Items", removal_policy=RemovalPolicy.DESTROY)
    canary = CanaryFunction(
        stack,
        "ItemsFunction",
        pre_traffic_hook=True,
        smoke_payload=ITEMS_SMOKE_TEST_EVENT,
        expected_status_code=200,
    )
    ApiLambdaTable(stack, "Api", table=table.table, function=canary.alias)
    ApiLambdaTable(stack, "Other", table_removal_policy=RemovalPolicy.DESTROY)


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    findings: dict

    def template(self, stack: str) -> dict:
        return json.loads((self.outdir / f"{stack}.template.json").read_text())

    def acknowledgements_made(self) -> set[tuple[str, str]]:
        return acknowledgements_made(self.outdir)

    def acknowledgements_used(self) -> set[tuple[str, str]]:
        return acknowledgements_used(self.outdir)


@pytest.fixture(scope="module")
def strict(tmp_path_factory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("strict-patterns")
    app = strict_app(outdir)
    services(Stack(app, "Agnostic"))
    services(Stack(app, "Bound", env=Environment(account=ACCOUNT, region="eu-west-1")))
    route_alarms(app)  # each stack's alarms to its own encrypted topic (alarms without actions are findings)
    return Synthesized(outdir, synth_findings(app))


def of_type(template: dict, resource_type: str) -> dict:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == resource_type}


# --- the whole under the six rule sets -------------------------------------------------------------


@pytest.mark.parametrize("rule_set", RULE_SETS)
def test_no_finding_in_env_agnostic_and_env_bound_stacks(strict, rule_set):
    assert rule_set in strict.findings, f"{rule_set} did not run"
    assert strict.findings[rule_set] == []


def test_every_acknowledgement_silences_a_real_finding(strict):
    assert strict.acknowledgements_made() - strict.acknowledgements_used() == set()


# --- log groups -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["Agnostic", "Bound"])
def test_every_log_group_is_encrypted_with_the_logs_key_for_a_year(strict, stack):
    groups = of_type(strict.template(stack), "AWS::Logs::LogGroup")
    assert len(groups) == 8  # 3 functions (canary, smoke test, handler), 2 x (access, execution), the web ACL's
    for key, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == 365, key
        assert group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0].startswith("StrictLogsKey"), key


def test_a_longer_access_log_retention_is_kept_for_both_api_log_groups():
    stack = Stack(App(context=STRICT), "S")
    ApiLambdaTable(stack, "Items", access_log_retention=logs.RetentionDays.TWO_YEARS)
    groups = Template.from_stack(stack).find_resources("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 731}})
    assert len(groups) == 2


def test_a_shorter_access_log_retention_is_refused_naming_the_prop_and_the_profile():
    with pytest.raises(
        ValueError, match=r"access_log_retention=ONE_MONTH is shorter than the strict compliance profile's ONE_YEAR"
    ):
        ApiLambdaTable(Stack(App(context=STRICT), "S"), "Items", access_log_retention=logs.RetentionDays.ONE_MONTH)


def test_baseline_api_log_groups_keep_a_month_without_a_customer_managed_key():
    stack = Stack(App(), "S")
    ApiLambdaTable(stack, "Items")
    Template.from_stack(stack).all_resources_properties(
        "AWS::Logs::LogGroup", {"RetentionInDays": 30, "KmsKeyId": Match.absent()}
    )


# --- web ACL -------------------------------------------------------------------------------------


def test_every_stage_of_a_stack_is_associated_with_its_one_web_acl(strict):
    template = strict.template("Agnostic")
    (acl_id,) = of_type(template, "AWS::WAFv2::WebACL")
    associations = of_type(template, "AWS::WAFv2::WebACLAssociation").values()
    stages = of_type(template, "AWS::ApiGateway::Stage")
    assert len(associations) == len(stages) == 2
    associated = {json.dumps(a["Properties"]["ResourceArn"]) for a in associations}
    assert all(any(f'"Ref": "{stage}"' in arn for arn in associated) for stage in stages)
    assert all(a["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]} for a in associations)


def test_the_web_acl_allows_by_default_and_runs_the_managed_rule_groups_with_metrics(strict):
    (acl,) = of_type(strict.template("Agnostic"), "AWS::WAFv2::WebACL").values()
    properties = acl["Properties"]
    assert properties["Scope"] == "REGIONAL"
    assert properties["DefaultAction"] == {"Allow": {}}
    assert [rule["Statement"]["ManagedRuleGroupStatement"] for rule in properties["Rules"]] == [
        {"VendorName": "AWS", "Name": group} for group in MANAGED_RULE_GROUPS
    ]
    assert all(rule["OverrideAction"] == {"None": {}} for rule in properties["Rules"])
    for visibility in [properties["VisibilityConfig"]] + [rule["VisibilityConfig"] for rule in properties["Rules"]]:
        assert visibility["CloudWatchMetricsEnabled"] is True and visibility["SampledRequestsEnabled"] is True


def test_the_web_acl_logs_to_its_waf_log_group_without_credentials(strict):
    template = strict.template("Agnostic")
    (acl_id,) = of_type(template, "AWS::WAFv2::WebACL")
    ((group_id, _group),) = [
        (key, value)
        for key, value in of_type(template, "AWS::Logs::LogGroup").items()
        if WAF_LOG_GROUP_PREFIX in json.dumps(value["Properties"].get("LogGroupName", ""))
    ]
    (logging,) = of_type(template, "AWS::WAFv2::LoggingConfiguration").values()
    assert logging["Properties"]["ResourceArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (destination,) = logging["Properties"]["LogDestinationConfigs"]
    parts = destination["Fn::Join"][1]
    assert parts[-2:] == [":log-group:", {"Ref": group_id}]  # the plain group ARN, without ":*"
    assert logging["Properties"]["RedactedFields"] == [
        {"SingleHeader": {"Name": "authorization"}},
        {"SingleHeader": {"Name": "x-amz-security-token"}},
    ]


def waf_log_group_name(stack_name: str, stack_id: str) -> str:
    """The WAF log group's name, as deployed in the stack ``stack_id`` named ``stack_name``."""
    stack = Stack(App(context=STRICT), "Api", stack_name=stack_name)
    web_acl(stack)
    template = Template.from_stack(stack).to_json()
    (group,) = of_type(template, "AWS::Logs::LogGroup").values()
    return rendered(group["Properties"]["LogGroupName"], stack_id=stack_id, stack_name=stack_name)


def test_the_waf_log_group_name_differs_between_stacks_of_the_same_construct_ids():
    blue, green = (waf_log_group_name(name, stack_id) for name, stack_id in TWO_STACKS)
    assert blue != green


def test_the_waf_log_group_name_keeps_to_the_waf_and_cloudwatch_logs_rules():
    name = waf_log_group_name(*TWO_STACKS[0])
    assert name.startswith(WAF_LOG_GROUP_PREFIX) and name.startswith(f"{WAF_LOG_GROUP_PREFIX}Blue-")
    assert re.fullmatch(r"[A-Za-z0-9_./#-]{1,512}", name), name


def test_a_web_acl_given_by_the_user_is_associated_instead():
    stack = Stack(App(context=STRICT), "S")
    arn = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/mine/abc"
    ApiLambdaTable(stack, "Items", web_acl_arn=arn)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::WAFv2::WebACL", 0)
    template.has_resource_properties("AWS::WAFv2::WebACLAssociation", {"WebACLArn": arn})


def test_web_acl_is_one_per_stack():
    stack = Stack(App(context=STRICT), "S")
    assert web_acl(stack) is web_acl(ApiLambdaTable(stack, "Items"))


def test_baseline_makes_no_web_acl():
    stack = Stack(App(), "S")
    ApiLambdaTable(stack, "Items")
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::WAFv2::WebACL", 0)
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 0)


def test_the_stage_acknowledges_cache_and_client_certificate_only(strict):
    on_stages = {
        ack_id
        for path, ack_id in strict.acknowledgements_made()
        if path.startswith("Bound/Other/Api/DeploymentStage.prod") and not ack_id.startswith("AwsSolutions")
    }
    assert on_stages == {
        f"{pack}::{pack}-{rule}"
        for pack in ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")
        for rule in ("APIGWCacheEnabledAndEncrypted", "APIGWSSLEnabled")
    }


# --- Lambda permissions -----------------------------------------------------------------------------


def test_permissions_name_the_account_literally_in_an_env_bound_stack(strict):
    permissions = of_type(strict.template("Bound"), "AWS::Lambda::Permission")
    assert len(permissions) == 10
    assert {p["Properties"]["SourceAccount"] for p in permissions.values()} == {ACCOUNT}
    made = strict.acknowledgements_made()
    assert [path for path, ack_id in made if ack_id == PUBLIC_ACCESS_ACK and path.startswith("Bound/")] == []


def test_permissions_name_the_account_by_reference_and_acknowledge_the_control_in_an_env_agnostic_stack(strict):
    permissions = of_type(strict.template("Agnostic"), "AWS::Lambda::Permission")
    assert {json.dumps(p["Properties"]["SourceAccount"]) for p in permissions.values()} == {
        json.dumps({"Ref": "AWS::AccountId"})
    }
    acknowledged = [path for path, ack_id in strict.acknowledgements_made() if ack_id == PUBLIC_ACCESS_ACK]
    assert len(acknowledged) == len(permissions) == 10
    assert all(path.startswith("Agnostic/") and "/ApiPermission." in path for path in acknowledged)


def test_baseline_permissions_have_no_source_account():
    stack = Stack(App(), "S")
    ApiLambdaTable(stack, "Items")
    Template.from_stack(stack).all_resources_properties("AWS::Lambda::Permission", {"SourceAccount": Match.absent()})


# --- IAM: no inline policies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stack", ["Agnostic", "Bound", "ApiGatewayAccountLogging", f"ApiGatewayAccountLogging-{ACCOUNT}-eu-west-1"]
)
def test_no_inline_policy(strict, stack):
    template = strict.template(stack)
    assert of_type(template, "AWS::IAM::Policy") == {}
    assert [key for key, role in of_type(template, "AWS::IAM::Role").items() if "Policies" in role["Properties"]] == []


def test_the_account_logging_role_keeps_a_retained_managed_policy_that_the_setting_waits_for(strict):
    template = strict.template("ApiGatewayAccountLogging")
    ((role_id, role),) = of_type(template, "AWS::IAM::Role").items()
    ((policy_id, policy),) = of_type(template, "AWS::IAM::ManagedPolicy").items()
    assert role["DeletionPolicy"] == policy["DeletionPolicy"] == "Retain"
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    assert "logs:PutLogEvents" in json.dumps(policy["Properties"]["PolicyDocument"])
    (setting,) = of_type(template, "AWS::ApiGateway::Account").values()
    assert policy_id in setting["DependsOn"]


def test_the_account_logging_stack_reads_the_profile_of_its_stage_not_of_one_stack():
    app = App()
    stack = Stack(app, "Api")
    stack.node.set_context(COMPLIANCE_CONTEXT, "strict")
    settings = ApiLambdaTable(stack, "Items").account_logging
    assert isinstance(settings, ApiGatewayAccountLogging) and settings.policy is None
    strict_stage = Stage(App(), "Prod")
    strict_stage.node.set_context(COMPLIANCE_CONTEXT, "strict")
    settings = ApiLambdaTable(Stack(strict_stage, "Api"), "Items").account_logging
    assert isinstance(settings, ApiGatewayAccountLogging) and settings.policy is not None


def test_codedeploy_role_grants_are_a_managed_policy_the_alias_waits_for(strict):
    template = strict.template("Bound")
    policies = of_type(template, "AWS::IAM::ManagedPolicy")
    (grants_id,) = [key for key in policies if key.startswith("ItemsFunctionDeploymentRoleGrants")]
    assert "lambda:UpdateAlias" in json.dumps(policies[grants_id]["Properties"]["PolicyDocument"])
    (alias,) = of_type(template, "AWS::Lambda::Alias").values()
    assert grants_id in alias["DependsOn"]


def test_the_hook_status_grant_is_a_managed_policy_of_its_own_the_hook_waits_for(strict):
    template = strict.template("Bound")
    policies = of_type(template, "AWS::IAM::ManagedPolicy")
    (status_id,) = [key for key in policies if key.startswith("ItemsFunctionDeploymentHookStatusPolicy")]
    document = policies[status_id]["Properties"]["PolicyDocument"]
    assert document["Statement"] == [
        {"Action": "codedeploy:PutLifecycleEventHookExecutionStatus", "Effect": "Allow", "Resource": "*"}
    ]
    functions = of_type(template, "AWS::Lambda::Function")
    hooks = [function for key, function in functions.items() if key.startswith("ItemsFunctionSmokeTest")]
    assert len(hooks) == 1 and status_id in hooks[0]["DependsOn"]
    assert ("Bound/ItemsFunction/Deployment/HookStatusPolicy", "AwsSolutions::AwsSolutions-IAM5[Resource::*]") in (
        strict.acknowledgements_used()
    )


# --- reserved concurrency of the canary ------------------------------------------------------------


def strict_canary_functions(**props) -> dict[str, dict]:
    stack = Stack(App(context=STRICT), "S")
    CanaryFunction(stack, "Canary", pre_traffic_hook=True, smoke_payload={"smoke": True}, **props)
    functions = of_type(Template.from_stack(stack).to_json(), "AWS::Lambda::Function")
    return {key: value["Properties"] for key, value in functions.items()}


def reserved_of(functions: dict[str, dict], prefix: str) -> int:
    (properties,) = [properties for key, properties in functions.items() if key.startswith(prefix)]
    return properties["ReservedConcurrentExecutions"]


def test_the_smoke_test_hook_reserves_the_deployment_time_share(strict):
    functions = of_type(strict.template("Bound"), "AWS::Lambda::Function")
    (hook,) = [function for key, function in functions.items() if key.startswith("ItemsFunctionSmokeTest")]
    assert hook["Properties"]["ReservedConcurrentExecutions"] == STRICT_DEPLOYMENT_RESERVED_CONCURRENCY


def test_a_strict_canary_reserves_the_profile_share_when_provisioned_concurrency_is_below_it():
    functions = strict_canary_functions(provisioned_concurrency=5)
    assert reserved_of(functions, "CanaryHandler") == STRICT_RESERVED_CONCURRENCY


def test_a_strict_canary_reserves_as_much_as_provisioned_concurrency_may_scale_to():
    # Lambda refuses provisioned concurrency above the function's reserved concurrency.
    functions = strict_canary_functions(provisioned_concurrency=5, max_provisioned_concurrency=50)
    assert reserved_of(functions, "CanaryHandler") == 50


def test_a_strict_canary_reserves_as_much_as_its_fixed_provisioned_concurrency():
    functions = strict_canary_functions(provisioned_concurrency=30)
    assert reserved_of(functions, "CanaryHandler") == 30


def test_a_strict_canary_refuses_a_reservation_below_its_provisioned_concurrency():
    with pytest.raises(ValueError, match="provisioned_concurrency=30 is above reserved_concurrent_executions=20"):
        strict_canary_functions(provisioned_concurrency=30, reserved_concurrent_executions=20)


def test_the_hook_never_reserves_more_than_the_context_gives_every_function():
    stack = Stack(App(context={**STRICT, STRICT_RESERVED_CONCURRENCY_CONTEXT: "1"}), "S")
    CanaryFunction(stack, "Canary", pre_traffic_hook=True, smoke_payload={"smoke": True})
    functions = of_type(Template.from_stack(stack).to_json(), "AWS::Lambda::Function")
    assert {function["Properties"]["ReservedConcurrentExecutions"] for function in functions.values()} == {1}
