"""Every public construct in the apps users build: env-bound and env-agnostic stacks, the aws-cn and
aws-us-gov partitions, stages, nested stacks, several instances, shared resources across stacks and
patterns composed under each other. Both cdk-nag packs run on all of it."""

from __future__ import annotations

import json
import re

import pytest

from consumer.matrix import ACCOUNT, CASES, CHINA_POWERTOOLS_LAYER, SETTINGS

ACCOUNT_ID = re.compile(r"\b\d{12}\b")


def resources(template: dict, type_: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == type_}


@pytest.mark.parametrize("case", sorted(CASES))
def test_synth_has_no_unacknowledged_finding(matrix, case):
    assert matrix.findings("violations", case) == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_nag_packs_ran_on_the_case(matrix, case):
    # Acknowledged findings under the case's path prove the packs looked at it (stages and nested
    # stacks included), so an empty violation list above means something.
    assert matrix.findings("suppressedViolations", case)


def test_nothing_else_failed_the_synth(matrix):
    # Only the report's findings may fail it; any other error (a jsii exception, a cycle) shows here.
    assert matrix.error is None or "ValidationFailed" in matrix.error
    assert all(matrix.findings("violations", case) == [] for case in CASES)


def test_an_env_agnostic_stack_names_no_account(matrix):
    assert ACCOUNT_ID.findall(json.dumps(matrix.template("EnvAgnostic"))) == []


@pytest.mark.parametrize(
    ("case", "rendered"),
    [
        ("account-and-region", "eu-west-1:111111111111"),
        ("stage", "us-east-1:111111111111"),
        ("aws-cn", "arn:aws-cn:"),
        ("aws-us-gov", "arn:aws-us-gov:"),
    ],
)
def test_acknowledgements_match_the_findings_as_the_environment_renders_them(matrix, case, rendered):
    # The library's wildcard acknowledgements were once written for env-agnostic stacks only.
    assert any(rendered in rule for rule, _ in matrix.findings("suppressedViolations", case))


@pytest.mark.parametrize(
    ("stack", "partition"), [("Partitions/China", "aws-cn"), ("Partitions/GovCloud", "aws-us-gov")]
)
def test_other_partitions_never_get_a_commercial_arn(matrix, stack, partition):
    text = json.dumps(matrix.template(stack))
    assert "arn:aws:" not in text
    assert f"arn:{partition}:" in text


@pytest.mark.parametrize(
    "stack", ["EnvBound", "Prod/Service", "Partitions/China", "Twice", "TwiceWorkloads", "Composed"]
)
def test_an_env_bound_stack_names_only_its_own_account(matrix, stack):
    accounts = set(ACCOUNT_ID.findall(json.dumps(matrix.template(stack))))
    expected = {"222222222222"} if stack == "Partitions/China" else {ACCOUNT}
    assert accounts <= expected


def test_functions_in_aws_cn_use_the_powertools_layer_named_in_context(matrix):
    functions = resources(matrix.template("Partitions/China"), "AWS::Lambda::Function")
    assert functions
    # The CDK's own bucket-notifications handler has no layers; the image processor also has its Pillow layer.
    library = [f for name, f in functions.items() if not name.startswith("BucketNotificationsHandler")]
    assert all(f["Properties"]["Layers"][0] == CHINA_POWERTOOLS_LAYER for f in library)


def test_a_nested_stack_holds_the_patterns_and_its_parent_only_the_nested_stack(matrix):
    parent = matrix.template("NestedParent")
    assert len(resources(parent, "AWS::CloudFormation::Stack")) == 1
    assert resources(parent, "AWS::Lambda::Function") == {}
    (nested,) = matrix.stack("NestedParent").nested_templates
    assert (
        len(resources(nested, "AWS::ApiGateway::RestApi")) == 4
    )  # items, Cognito-protected, stream ingestion, saga start
    assert resources(nested, "AWS::Lambda::Function")


def test_two_instances_in_one_stack_share_the_account_setting_and_nothing_else(matrix):
    assert len(resources(matrix.template(f"{SETTINGS}-{ACCOUNT}-eu-west-1"), "AWS::ApiGateway::Account")) == 1
    # ApiLambdaTable and CognitoProtectedApi; the image pipeline's own upload API, StreamProcessor's ingestion API
    # and the saga's start API: twice each.
    for stack, count in (("Twice", 4), ("TwiceWorkloads", 6)):
        template = matrix.template(stack)
        assert resources(template, "AWS::ApiGateway::Account") == {}  # in the environment's settings stack
        apis = resources(template, "AWS::ApiGateway::RestApi")
        assert len(apis) == count
        names = [api["Properties"].get("Name") for api in apis.values()]
        assert len(set(names)) == len(names), names


def _alarm_paths_by_instance(template: dict) -> dict[str, list[str]]:
    """Each instance's alarms, by their logical id below the instance (``First...``, ``Second...``), hash dropped."""
    paths: dict[str, list[str]] = {}
    for logical_id in resources(template, "AWS::CloudWatch::Alarm"):
        instance = next(name for name in ("First", "Second") if logical_id.startswith(name))
        paths.setdefault(instance, []).append(logical_id[len(instance) : -8])
    return {instance: sorted(below) for instance, below in paths.items()}


def test_two_instances_make_twice_the_alarms(matrix):
    once = len(resources(matrix.template("EnvBound"), "AWS::CloudWatch::Alarm"))
    made = 0
    for stack in ("Twice", "TwiceWorkloads"):
        by_instance = _alarm_paths_by_instance(matrix.template(stack))
        assert sorted(by_instance) == ["First", "Second"] and by_instance["First"] == by_instance["Second"]
        made += len(by_instance["First"])
    assert made >= once  # every construct's alarms, each instance its own


@pytest.fixture(scope="module")
def users(matrix) -> dict:
    """The stack whose patterns were given another stack's table, topic and user pool."""
    return matrix.template("SharedUsers")


class TestSharedResources:
    def test_the_shared_table_topic_and_pool_are_used_not_copied(self, users):
        assert resources(users, "AWS::Cognito::UserPool") == {}
        assert resources(users, "AWS::SNS::Topic") == {}
        for name in resources(users, "AWS::DynamoDB::Table"):
            assert not name.startswith("Items"), f"{name}: the items table was duplicated"

    def test_references_cross_as_exports_and_imports(self, matrix, users):
        exports = {o["Export"]["Name"] for o in matrix.template("Shared").get("Outputs", {}).values() if "Export" in o}
        imports = set(re.findall(r'"Fn::ImportValue": "([^"]+)"', json.dumps(users)))
        assert imports and imports <= exports

    def test_the_items_function_and_the_bridge_read_the_shared_table(self, users):
        functions = resources(users, "AWS::Lambda::Function")
        items = [f for name, f in functions.items() if name.startswith("ItemsHandler")]
        (items_function,) = items
        assert "Fn::ImportValue" in items_function["Properties"]["Environment"]["Variables"]["TABLE_NAME"]
        mappings = resources(users, "AWS::Lambda::EventSourceMapping")
        stream_sources = [m for m in mappings.values() if "StartingPosition" in m["Properties"]]
        # The bridge and StreamProcessor's mapping, both on the shared table's stream.
        assert [("Fn::ImportValue" in m["Properties"]["EventSourceArn"]) for m in stream_sources] == [True, True]


def test_canary_aliases_sit_behind_both_apis(matrix):
    template = matrix.template("Composed")
    aliases = resources(template, "AWS::Lambda::Alias")
    assert len(aliases) == 2
    methods = resources(template, "AWS::ApiGateway::Method")
    targets = {
        alias
        for method in methods.values()
        if method["Properties"]["HttpMethod"] != "OPTIONS"
        for alias in aliases
        if {"Ref": alias} in method["Properties"]["Integration"]["Uri"]["Fn::Join"][1]
    }
    assert targets == set(aliases)


@pytest.mark.parametrize(
    "stack",
    ["EnvAgnostic", "EnvBound", "Partitions/China", "Partitions/GovCloud", "Prod/Service", "Twice", "TwiceWorkloads"],
)
def test_every_alarm_reaches_the_ops_topic_of_its_own_stack(matrix, stack):
    template = matrix.template(stack)
    topics = set(resources(template, "AWS::SNS::Topic"))
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        (action,) = alarm["Properties"]["AlarmActions"]
        assert action.get("Ref") in topics, name
