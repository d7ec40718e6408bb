"""The cdk-nag helper (reasons required, ids, per-construct scope) and the blocks under both nag packs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, ArnFormat, Duration, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from nag_check import nag_app, nag_findings

from patterns.blocks import (
    SecureFunction,
    SecureQueue,
    SecureTable,
    SecureTopic,
    acknowledge,
    bundled_code,
    nag_ids,
    rendered_finding,
)

REASON = "A reason long enough to explain the exception."


def new_stack() -> Stack:
    return Stack(App(), "Test")


# --- acknowledge and nag_ids (no synth) --------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "too short", "  short    "])
def test_acknowledge_refuses_a_missing_or_empty_reason(reason):
    queue = sqs.Queue(new_stack(), "Queue")
    with pytest.raises(ValueError, match=r"acknowledging AwsSolutions-SQS3 on Test/Queue needs a reason"):
        acknowledge(queue, "AwsSolutions-SQS3", reason)


@pytest.mark.parametrize(
    "rule", ["SQS3", "HIPAA-SQSQueueSSE", "awssolutions-SQS3", "", "cfn-guard:", "NIST.800.53.R5-"]
)
def test_acknowledge_refuses_an_unknown_rule(rule):
    queue = sqs.Queue(new_stack(), "Queue")
    with pytest.raises(ValueError, match="unknown rule"):
        acknowledge(queue, rule, REASON)


def test_nag_ids_prefix_the_rule_with_its_pack():
    assert nag_ids("AwsSolutions-SQS3") == ["AwsSolutions::AwsSolutions-SQS3"]
    assert nag_ids("Serverless-LambdaDLQ") == ["Serverless::Serverless-LambdaDLQ"]


def test_nag_ids_name_each_finding_of_a_multi_finding_rule():
    assert nag_ids("AwsSolutions-IAM5", ["Resource::*", "Action::s3:*"]) == [
        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions::AwsSolutions-IAM5[Action::s3:*]",
    ]


@pytest.mark.parametrize(
    ("rule", "ack_id"),
    [
        ("NIST.800.53.R5-LambdaInsideVPC", "NIST.800.53.R5::NIST.800.53.R5-LambdaInsideVPC"),
        ("HIPAA.Security-LambdaDLQ", "HIPAA.Security::HIPAA.Security-LambdaDLQ"),
        ("PCI.DSS.321-LambdaInsideVPC", "PCI.DSS.321::PCI.DSS.321-LambdaInsideVPC"),
        ("cfn-guard:lambda_inside_vpc_check", "cdk-validator-cfnguard::lambda_inside_vpc_check"),
    ],
)
def test_nag_ids_of_the_compliance_packs_and_control_tower(rule, ack_id):
    assert nag_ids(rule) == [ack_id]


def test_nag_ids_refuse_an_unknown_rule():
    with pytest.raises(ValueError, match=r"unknown rule 'CIS-1\.1'"):
        nag_ids("CIS-1.1")


# Env-agnostic, concrete account and region, and regions of the other partitions; the partition
# is a literal only where the app opts into partition literals (the flag cdk init sets).
ENVIRONMENTS = {
    "agnostic": (None, {}),
    "aws": (Environment(account="111111111111", region="eu-west-1"), {}),
    "aws-cn": (
        Environment(account="222222222222", region="cn-north-1"),
        {"@aws-cdk/core:enablePartitionLiterals": True},
    ),
    "aws-us-gov": (
        Environment(account="333333333333", region="us-gov-west-1"),
        {"@aws-cdk/core:enablePartitionLiterals": True},
    ),
}
RENDERED_LOG_GROUPS = {
    "agnostic": "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:app-*",
    "aws": "Resource::arn:<AWS::Partition>:logs:eu-west-1:111111111111:log-group:app-*",
    "aws-cn": "Resource::arn:aws-cn:logs:cn-north-1:222222222222:log-group:app-*",
    "aws-us-gov": "Resource::arn:aws-us-gov:logs:us-gov-west-1:333333333333:log-group:app-*",
}


def log_groups_arn(stack: Stack) -> str:
    return stack.format_arn(
        service="logs", resource="log-group", resource_name="app-*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_a_finding_built_from_a_token_renders_as_the_stack_renders_it(environment):
    env, context = ENVIRONMENTS[environment]
    stack = Stack(App(context=context), "Test", env=env)
    assert rendered_finding(stack, f"Resource::{log_groups_arn(stack)}") == RENDERED_LOG_GROUPS[environment]


def test_a_finding_renders_references_the_way_cdk_nag_prints_them():
    stack = new_stack()
    queue = sqs.Queue(stack, "Queue")
    logical_id = stack.get_logical_id(queue.node.default_child)
    assert rendered_finding(stack, f"Resource::{queue.queue_arn}/*") == f"Resource::<{logical_id}.Arn>/*"
    assert rendered_finding(stack, "Resource::*") == "Resource::*"


# --- real synth with both packs ----------------------------------------------------------------


def two_plain_queues(outdir: Path) -> App:
    """Two queues without a DLQ (AwsSolutions-SQS3 on each); only ``A`` is acknowledged."""
    app = nag_app(outdir)
    stack = Stack(app, "Queues")
    a = sqs.Queue(stack, "A", enforce_ssl=True)
    sqs.Queue(stack, "B", enforce_ssl=True)
    acknowledge(a, "AwsSolutions-SQS3", REASON)
    return app


def test_an_unacknowledged_finding_fails_synth_and_writes_the_report(tmp_path):
    app = two_plain_queues(tmp_path)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert {plugin["pluginName"] for plugin in report["pluginReports"]} == {"AwsSolutions", "Serverless"}


def test_an_acknowledgement_on_one_construct_does_not_silence_its_sibling(tmp_path):
    found = nag_findings(two_plain_queues(tmp_path))
    assert ("AwsSolutions-SQS3", "Queues/B/Resource") in found["violations"]
    assert ("AwsSolutions-SQS3", "Queues/A/Resource") not in found["violations"]
    assert ("AwsSolutions-SQS3", "Queues/A/Resource") in found["acknowledged"]


def blocks_stack(app: App) -> Stack:
    """One of each building block with its defaults, the function consuming the queue."""
    stack = Stack(app, "Blocks")
    table = SecureTable(stack, "Table")
    topic = SecureTopic(stack, "Topic")
    # A Lambda consumer needs a visibility timeout of 6x its timeout (10 s by default).
    queue = SecureQueue(stack, "Queue", visibility_timeout=Duration.seconds(60))
    function = SecureFunction(
        stack, "Recorder", code=bundled_code("event_recorder"), environment={"TABLE_NAME": table.table.table_name}
    )
    queue.subscribe(topic.topic)
    queue.add_consumer(function.function)
    table.table.grant_write_data(function.function)
    return stack


@pytest.fixture(scope="module")
def blocks_findings(tmp_path_factory) -> dict:
    app = nag_app(tmp_path_factory.mktemp("blocks"))
    blocks_stack(app)
    return nag_findings(app)


def test_building_blocks_with_defaults_have_no_unacknowledged_finding(blocks_findings):
    assert blocks_findings["violations"] == []


def test_building_blocks_acknowledge_only_what_they_document(blocks_findings):
    # Each acknowledgement sits on the one resource it is about, never on a parent.
    assert sorted(blocks_findings["acknowledged"]) == [
        ("AwsSolutions-IAM5[Resource::*]", "Blocks/Recorder/TracingPolicy/Resource"),
        ("Serverless-LambdaDLQ", "Blocks/Recorder/Function/Resource"),
        ("Serverless-LambdaEventSourceMappingDestination", "Blocks/Queue/Consumer/Resource"),
        ("Serverless-SQSRedrivePolicy", "Blocks/Queue/DeadLetterQueue/Resource"),
    ]


def test_tracing_acknowledgement_does_not_hide_a_wildcard_in_the_role_grants(tmp_path):
    app = nag_app(tmp_path)
    stack = Stack(app, "Wildcard")
    function = SecureFunction(stack, "Fn", code=bundled_code("event_recorder"))
    function.function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    found = nag_findings(app)
    assert ("AwsSolutions-IAM5[Resource::*]", "Wildcard/Fn/Role/DefaultPolicy/Resource") in found["violations"]


def test_asynchronous_function_satisfies_the_dlq_rule_without_acknowledging_it(tmp_path):
    app = nag_app(tmp_path)
    SecureFunction(Stack(app, "Async"), "Fn", code=bundled_code("event_recorder"), asynchronous=True)
    found = nag_findings(app)
    assert found["violations"] == []
    assert [rule for rule, _ in found["acknowledged"] if rule == "Serverless-LambdaDLQ"] == []


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_a_token_acknowledgement_silences_its_finding_in_every_environment(tmp_path, environment):
    env, context = ENVIRONMENTS[environment]
    app = nag_app(tmp_path)
    for key, value in context.items():
        app.node.set_context(key, value)
    stack = Stack(app, "Logs", env=env)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    arn = log_groups_arn(stack)
    role.add_to_policy(iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[arn]))
    acknowledge(role, "AwsSolutions-IAM5", REASON, findings=[f"Resource::{arn}"])
    found = nag_findings(app)
    assert found["violations"] == []
    assert (f"AwsSolutions-IAM5[{RENDERED_LOG_GROUPS[environment]}]", "Logs/Role/DefaultPolicy/Resource") in found[
        "acknowledged"
    ]
