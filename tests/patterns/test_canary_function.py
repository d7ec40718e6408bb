"""CanaryFunction: versions, alias, CodeDeploy config, alarm rollback, hooks, capacity, bad props."""

from __future__ import annotations

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from iam_reference import findings as iam_findings
from nag_check import nag_app, nag_findings
from test_iam_resource_types import ACKNOWLEDGED_EXCEPTIONS

from patterns import ApiLambdaTable, CanaryFunction, SecureFunction, SecureTable, TrafficShift, bundled_code

SMOKE = {"smoke": True}


def new_stack() -> Stack:
    return Stack(App(), "Test")


def synth(**props) -> Template:
    stack = new_stack()
    CanaryFunction(stack, "Canary", **props)
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def default() -> Template:
    return synth()


@pytest.fixture(scope="module")
def hooked() -> Template:
    return synth(pre_traffic_hook=True, post_traffic_hook=True, smoke_payload=SMOKE, expected_status_code=200)


def only(template: Template, type_: str) -> tuple[str, dict]:
    (item,) = template.find_resources(type_).items()
    return item


def functions_by_prefix(template: Template, prefix: str) -> tuple[str, dict]:
    (item,) = [(k, v) for k, v in template.find_resources("AWS::Lambda::Function").items() if k.startswith(prefix)]
    return item


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def resources_of(statements: list[dict], action: str) -> list:
    return [r for s in statements if action in _as_list(s["Action"]) for r in _as_list(s["Resource"])]


def policy_statements(template: Template, prefix: str) -> list[dict]:
    return [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith(prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


# --- defaults ---------------------------------------------------------------------------------


def test_runs_the_bundled_hello_handler_behind_a_live_alias_on_a_published_version(default):
    version_id, _ = only(default, "AWS::Lambda::Version")
    _, alias = only(default, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    default.resource_count_is("AWS::Lambda::Function", 1)


def test_alias_updates_go_through_codedeploy(default):
    _, alias = only(default, "AWS::Lambda::Alias")
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    group_id, _ = only(default, "AWS::CodeDeploy::DeploymentGroup")
    assert update["DeploymentGroupName"] == {"Ref": group_id}


def test_default_config_is_canary_10_percent_for_5_minutes(default):
    default.has_resource_properties(
        "AWS::CodeDeploy::DeploymentGroup", {"DeploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes"}
    )


def test_rollback_on_alarm_failure_and_stop(default):
    default.has_resource_properties(
        "AWS::CodeDeploy::DeploymentGroup",
        {
            "AutoRollbackConfiguration": {
                "Enabled": True,
                "Events": Match.array_with(
                    ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST", "DEPLOYMENT_STOP_ON_ALARM"]
                ),
            }
        },
    )


def rollback_alarms(template: Template) -> dict[str, dict]:
    """The alarms the deployment group polls, by logical id."""
    _, group = only(template, "AWS::CodeDeploy::DeploymentGroup")
    ids = [a["Name"]["Ref"] for a in group["Properties"]["AlarmConfiguration"]["Alarms"]]
    return {logical_id: template.to_json()["Resources"][logical_id] for logical_id in ids}


def dimensions(alarm: dict) -> dict:
    return {d["Name"]: d["Value"] for d in alarm["Properties"]["Dimensions"]}


def test_errors_throttles_and_duration_alarms_feed_the_deployment_group(default):
    alarms = rollback_alarms(default)
    assert sorted(a["Properties"]["MetricName"] for a in alarms.values()) == ["Duration", "Errors", "Throttles"]


def test_rollback_alarms_count_only_the_new_version_invoked_through_the_alias(default):
    # During a 10% canary the old version serves 90% of the traffic: an alarm on the alias alone
    # (FunctionName + Resource) counts its errors too and rolls back a good version. Lambda splits
    # alias invocations by the version that ran under the ExecutedVersion dimension.
    function_id, _ = only(default, "AWS::Lambda::Function")
    version_id, _ = only(default, "AWS::Lambda::Version")
    for alarm in rollback_alarms(default).values():
        assert dimensions(alarm) == {
            "FunctionName": {"Ref": function_id},
            "Resource": {"Fn::Join": ["", [{"Ref": function_id}, ":live"]]},
            "ExecutedVersion": {"Fn::GetAtt": [version_id, "Version"]},
        }


def test_a_new_version_moves_the_rollback_alarms_to_it():
    template = synth(environment={"GREETING": "bonjour"})
    version_id, _ = only(template, "AWS::Lambda::Version")
    assert version_id != only(synth(environment={"GREETING": "hello"}), "AWS::Lambda::Version")[0]
    for alarm in rollback_alarms(template).values():
        assert dimensions(alarm)["ExecutedVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


def test_no_traffic_on_the_new_version_yet_does_not_roll_back(default):
    # Before CodeDeploy shifts any traffic (and on a quiet canary) the new version has no data points.
    for alarm in rollback_alarms(default).values():
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
        assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_function_alarms_over_every_version_never_roll_back(default):
    function_alarms = [
        logical_id
        for logical_id, alarm in default.find_resources("AWS::CloudWatch::Alarm").items()
        if "ExecutedVersion" not in dimensions(alarm)
    ]
    assert function_alarms  # the building block's errors and throttles alarms on the whole function
    assert not set(function_alarms) & set(rollback_alarms(default))


def test_the_construct_exposes_the_rollback_alarms():
    stack = new_stack()
    canary = CanaryFunction(stack, "Canary")
    assert canary.alarms == [canary.errors_alarm, canary.throttles_alarm, canary.duration_alarm]
    template = Template.from_stack(stack)
    assert sorted(stack.resolve(a.alarm_arn)["Fn::GetAtt"][0] for a in canary.alarms) == sorted(
        rollback_alarms(template)
    )


def test_duration_alarm_defaults_to_80_percent_of_the_timeout(default):
    default.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "Duration", "ExtendedStatistic": "p99", "Threshold": 8000}
    )


def test_deployment_role_has_no_managed_policy_and_exact_permissions(default):
    roles = default.find_resources("AWS::IAM::Role")
    assert all("ManagedPolicyArns" not in r["Properties"] for r in roles.values())
    statements = policy_statements(default, "CanaryDeploymentRole")
    assert sorted(action for s in statements for action in _as_list(s["Action"])) == [
        "cloudwatch:DescribeAlarms",
        "lambda:GetAlias",
        "lambda:GetProvisionedConcurrencyConfig",
        "lambda:UpdateAlias",
    ]
    assert "*" not in str(statements)


def test_codedeploy_moves_the_alias_through_the_unqualified_function_arn(default):
    # GetAlias and UpdateAlias are authorized on the function resource type; a grant on the alias
    # ARN (function:NAME:live) is denied and every deployment after a change rolls back.
    function_id, _ = only(default, "AWS::Lambda::Function")
    assert resources_of(policy_statements(default, "CanaryDeploymentRole"), "lambda:UpdateAlias") == [
        {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert resources_of(policy_statements(default, "CanaryDeploymentRole"), "lambda:GetAlias") == [
        {"Fn::GetAtt": [function_id, "Arn"]}
    ]


def test_codedeploy_reads_provisioned_concurrency_of_the_alias(default):
    # The alias ARN, spelled from the function's so that the alias may depend on this policy.
    function_id, _ = only(default, "AWS::Lambda::Function")
    statements = policy_statements(default, "CanaryDeploymentRole")
    assert resources_of(statements, "lambda:GetProvisionedConcurrencyConfig") == [
        {"Fn::Join": ["", [{"Fn::GetAtt": [function_id, "Arn"]}, ":live"]]}
    ]


def test_codedeploy_reads_exactly_the_rollback_alarms(default):
    alarm_ids = sorted(rollback_alarms(default))
    statements = policy_statements(default, "CanaryDeploymentRole")
    granted = sorted(r["Fn::GetAtt"][0] for r in resources_of(statements, "cloudwatch:DescribeAlarms"))
    assert granted == alarm_ids


@pytest.mark.parametrize(
    "props",
    [
        {},
        {"pre_traffic_hook": True, "post_traffic_hook": True, "smoke_payload": SMOKE},
        {"provisioned_concurrency": 1, "max_provisioned_concurrency": 3},
    ],
    ids=["default", "hooks", "provisioned-concurrency"],
)
def test_every_grant_is_on_a_resource_type_the_reference_authorizes(props):
    stack = new_stack()
    CanaryFunction(stack, "Canary", **props)
    template = Template.from_stack(stack).to_json()
    assert [str(f) for f in iam_findings(template, ACKNOWLEDGED_EXCEPTIONS)] == []


def test_no_hook_by_default(default):
    _, _group = only(default, "AWS::CodeDeploy::DeploymentGroup")
    _, alias = only(default, "AWS::Lambda::Alias")
    assert "BeforeAllowTrafficHook" not in alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]


# --- traffic shifting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift", "config_name"),
    [
        (TrafficShift.linear(), "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"),
        (TrafficShift.canary(10, Duration.minutes(30)), "CodeDeployDefault.LambdaCanary10Percent30Minutes"),
        (TrafficShift.all_at_once(), "CodeDeployDefault.LambdaAllAtOnce"),
    ],
)
def test_predefined_configs_are_used_when_they_match(shift, config_name):
    synth(traffic_shift=shift).has_resource_properties(
        "AWS::CodeDeploy::DeploymentGroup", {"DeploymentConfigName": config_name}
    )


def test_custom_canary_percentage_and_interval():
    template = synth(traffic_shift=TrafficShift.canary(25, Duration.minutes(15)))
    template.has_resource_properties(
        "AWS::CodeDeploy::DeploymentConfig",
        {
            "ComputePlatform": "Lambda",
            "TrafficRoutingConfig": {
                "Type": "TimeBasedCanary",
                "TimeBasedCanary": {"CanaryInterval": 15, "CanaryPercentage": 25},
            },
        },
    )


def test_custom_linear_percentage_and_interval():
    template = synth(traffic_shift=TrafficShift.linear(20, Duration.minutes(2)))
    template.has_resource_properties(
        "AWS::CodeDeploy::DeploymentConfig",
        {
            "TrafficRoutingConfig": {
                "Type": "TimeBasedLinear",
                "TimeBasedLinear": {"LinearInterval": 2, "LinearPercentage": 20},
            }
        },
    )


def test_alarm_thresholds_are_configurable():
    template = synth(errors_threshold=5, throttles_threshold=3, p99_duration_threshold=Duration.seconds(2))
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Errors", "Threshold": 5})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Throttles", "Threshold": 3})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Duration", "Threshold": 2000})


# --- hooks ---------------------------------------------------------------------------------------


def test_hooks_run_the_bundled_smoke_test_before_and_after_traffic(hooked):
    hook_id, hook = functions_by_prefix(hooked, "CanarySmokeTest")
    _, alias = only(hooked, "AWS::Lambda::Alias")
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["BeforeAllowTrafficHook"] == {"Ref": hook_id}
    assert update["AfterAllowTrafficHook"] == {"Ref": hook_id}
    variables = hook["Properties"]["Environment"]["Variables"]
    version_id, _ = only(hooked, "AWS::Lambda::Version")
    assert variables["TARGET_FUNCTION_ARN"] == {"Ref": version_id}
    assert variables["SMOKE_PAYLOAD"] == '{"smoke": true}'
    assert variables["EXPECTED_STATUS_CODE"] == "200"


def test_hook_may_invoke_only_the_new_version(hooked):
    version_id, _ = only(hooked, "AWS::Lambda::Version")
    statements = policy_statements(hooked, "CanarySmokeTestRoleDefaultPolicy")
    assert resources_of(statements, "lambda:InvokeFunction") == [{"Ref": version_id}]
    assert "*" not in str([s for s in statements if "xray" not in str(s["Action"])])


def test_hook_reports_its_status_on_any_deployment_from_a_policy_of_its_own(hooked):
    # The reference lists no resource type for PutLifecycleEventHookExecutionStatus, so '*' is the
    # resource it documents; a hook that cannot report makes every deployment time out and roll back.
    reporting = {k: v for k, v in hooked.find_resources("AWS::IAM::Policy").items() if "HookStatusPolicy" in k}
    (policy,) = reporting.values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "codedeploy:PutLifecycleEventHookExecutionStatus", "Effect": "Allow", "Resource": "*"}
    ]
    hook_role_id = policy["Properties"]["Roles"][0]["Ref"]
    assert hook_role_id.startswith("CanarySmokeTestRole")
    default_policy = policy_statements(hooked, "CanarySmokeTestRoleDefaultPolicy")
    assert "PutLifecycleEventHookExecutionStatus" not in str(default_policy)


def test_a_hook_added_later_gets_the_same_status_grant():
    stack = new_stack()
    canary = CanaryFunction(stack, "Canary")
    extra_hook = SecureFunction(stack, "ExtraHook", code=bundled_code("hello"), asynchronous=True)
    canary.deployment_group.add_post_hook(extra_hook.function)
    template = Template.from_stack(stack)
    statements = [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if "HookStatusPolicy" in logical_id
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {"Action": "codedeploy:PutLifecycleEventHookExecutionStatus", "Effect": "Allow", "Resource": "*"}
    ]


def test_codedeploy_may_invoke_exactly_the_hook(hooked):
    hook_id, _ = functions_by_prefix(hooked, "CanarySmokeTest")
    statements = policy_statements(hooked, "CanaryDeploymentRole")
    (invoke,) = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert invoke["Resource"] == {"Fn::GetAtt": [hook_id, "Arn"]}


def test_hook_failures_of_asynchronous_invocations_are_kept(hooked):
    _, hook = functions_by_prefix(hooked, "CanarySmokeTest")
    assert "DeadLetterConfig" in hook["Properties"]


# --- deployment order ----------------------------------------------------------------------------
# The alias update starts the CodeDeploy deployment; CloudFormation orders it only by references in
# its properties and by DependsOn, and nothing below is referenced by its properties.


def alias_depends_on(template: Template) -> list[str]:
    _, alias = only(template, "AWS::Lambda::Alias")
    return alias.get("DependsOn", [])


@pytest.fixture(scope="module")
def canary_demo() -> Template:
    from stacks.canary_demo import CanaryDemo

    return Template.from_stack(CanaryDemo(App(), "CanaryDemo"))


def test_in_the_demo_the_alias_waits_for_the_smoke_test_of_the_new_version(canary_demo):
    # The hook's TARGET_FUNCTION_ARN and its grant to invoke that version change with every version.
    hook_id, _ = functions_by_prefix(canary_demo, "ItemsFunctionSmokeTest")
    (hook_policy_id,) = [
        k
        for k in canary_demo.find_resources("AWS::IAM::Policy")
        if k.startswith("ItemsFunctionSmokeTestRoleDefaultPolicy")
    ]
    assert {hook_id, hook_policy_id} <= set(alias_depends_on(canary_demo))


def test_the_alias_waits_for_the_rollback_alarms_to_watch_the_new_version(default):
    assert set(rollback_alarms(default)) <= set(alias_depends_on(default))


def test_the_alias_waits_for_codedeploys_role_and_its_policy(default):
    role_ids = [k for k in default.find_resources("AWS::IAM::Role") if k.startswith("CanaryDeploymentRole")]
    policy_ids = [k for k in default.find_resources("AWS::IAM::Policy") if k.startswith("CanaryDeploymentRole")]
    assert role_ids and policy_ids
    assert set(role_ids + policy_ids) <= set(alias_depends_on(default))


# --- capacity ------------------------------------------------------------------------------------


def test_reserved_concurrency_given_reaches_the_function_and_may_equal_the_provisioned():
    template = synth(provisioned_concurrency=4, reserved_concurrent_executions=4)
    template.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 4})


def test_baseline_reserves_no_concurrency_with_provisioned_concurrency():
    template = synth(provisioned_concurrency=2, max_provisioned_concurrency=30)
    template.all_resources_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": Match.absent()})


def test_provisioned_concurrency_with_auto_scaling_on_utilization():
    template = synth(provisioned_concurrency=2, max_provisioned_concurrency=10)
    template.has_resource_properties(
        "AWS::Lambda::Alias", {"ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2}}
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": 2, "MaxCapacity": 10, "ScalableDimension": "lambda:function:ProvisionedConcurrency"},
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": 0.7,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"
                    },
                }
            )
        },
    )


# --- versions ------------------------------------------------------------------------------------


def version_and_alias(**props) -> tuple[str, dict]:
    template = synth(**props)
    version_id, _ = only(template, "AWS::Lambda::Version")
    _, alias = only(template, "AWS::Lambda::Alias")
    return version_id, alias


def test_a_configuration_change_publishes_a_new_version_that_codedeploy_shifts_to():
    before, _ = version_and_alias(environment={"GREETING": "hello"})
    after, alias = version_and_alias(environment={"GREETING": "bonjour"})
    assert before != after
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [after, "Version"]}
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]


def test_a_code_change_publishes_a_new_version():
    one = lambda_.Code.from_inline("def handler(event, context):\n    return 1\n")
    two = lambda_.Code.from_inline("def handler(event, context):\n    return 2\n")
    before, _ = version_and_alias(code=one, handler="index.handler")
    after, _ = version_and_alias(code=two, handler="index.handler")
    assert before != after


def test_an_unchanged_function_keeps_its_version():
    assert version_and_alias(environment={"A": "1"})[0] == version_and_alias(environment={"A": "1"})[0]


# --- composition ---------------------------------------------------------------------------------


def test_the_alias_can_front_an_api_so_api_traffic_flows_through_the_canary():
    stack = new_stack()
    table = SecureTable(stack, "Items")
    canary = CanaryFunction(stack, "Canary")
    ApiLambdaTable(stack, "Api", function=canary.alias, table=table.table)
    template = Template.from_stack(stack)
    alias_id, _ = only(template, "AWS::Lambda::Alias")
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        assert {"Ref": alias_id} in method["Properties"]["Integration"]["Uri"]["Fn::Join"][1]
    for permission in template.find_resources("AWS::Lambda::Permission").values():
        assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}


def test_several_canaries_and_options_pass_the_nag_packs(tmp_path):
    app = nag_app(tmp_path)
    stack = Stack(app, "Composed")
    plain = CanaryFunction(stack, "Plain")
    extra_hook = SecureFunction(stack, "ExtraHook", code=bundled_code("hello"), asynchronous=True)
    plain.deployment_group.add_pre_hook(extra_hook.function)
    CanaryFunction(
        stack,
        "Hooked",
        traffic_shift=TrafficShift.linear(25, Duration.minutes(2)),
        pre_traffic_hook=True,
        post_traffic_hook=True,
        smoke_payload=SMOKE,
        provisioned_concurrency=1,
        max_provisioned_concurrency=4,
    )
    assert nag_findings(app)["violations"] == []


# --- invalid props -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"traffic_shift": TrafficShift.canary(0)}, "whole percentage from 1 to 99"),
        ({"traffic_shift": TrafficShift.canary(100)}, "whole percentage from 1 to 99"),
        ({"traffic_shift": TrafficShift.linear(10, Duration.seconds(30))}, "whole minutes"),
        ({"traffic_shift": TrafficShift.linear(10, Duration.seconds(90))}, "whole minutes"),
        ({"traffic_shift": TrafficShift.canary(10, Duration.days(3))}, "whole minutes"),
        ({"traffic_shift": TrafficShift("blue-green")}, "unknown traffic shift"),
        ({"pre_traffic_hook": True}, "needs smoke_payload"),
        ({"post_traffic_hook": True}, "needs smoke_payload"),
        ({"smoke_payload": SMOKE}, "need pre_traffic_hook or post_traffic_hook"),
        ({"pre_traffic_hook": True, "smoke_payload": {"x": object()}}, "JSON-serialisable"),
        ({"pre_traffic_hook": True, "smoke_payload": SMOKE, "expected_status_code": 42}, "HTTP status code"),
        ({"alias_name": ""}, "alias_name"),
        ({"alias_name": "1live"}, "alias_name"),
        ({"alias_name": "live now"}, "alias_name"),
        ({"errors_threshold": 0}, "at least 1"),
        ({"throttles_threshold": 0}, "at least 1"),
        ({"p99_duration_threshold": Duration.seconds(11)}, "at most the function's timeout"),
        ({"provisioned_concurrency": 0}, "provisioned_concurrency"),
        ({"provisioned_concurrency": 5, "max_provisioned_concurrency": 2}, "max_provisioned_concurrency"),
        ({"handler": "main.handler"}, "handler= needs code="),
        (
            {"provisioned_concurrency": 6, "reserved_concurrent_executions": 5},
            r"provisioned_concurrency=6 is above reserved_concurrent_executions=5",
        ),
        (
            {"provisioned_concurrency": 2, "max_provisioned_concurrency": 8, "reserved_concurrent_executions": 5},
            r"max_provisioned_concurrency=8 is above reserved_concurrent_executions=5",
        ),
    ],
)
def test_invalid_props_raise_a_clear_error(props, message):
    with pytest.raises(ValueError, match=message):
        CanaryFunction(new_stack(), "Canary", **props)
