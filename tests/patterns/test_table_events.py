"""TableEventPublisher: stream -> bridge -> topic, with bounded retries, bisection and a DLQ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from nag_check import nag_app, nag_findings
from strict_check import findings_under, strict_app, synth_findings

from patterns import FanoutQueue, SecureTable, SecureTopic, TableEventPublisher, route_alarms
from patterns.blocks.compliance_resources import restrict_grants_to_aws_services


def streamed_table(stack: Stack) -> dynamodb.Table:
    return SecureTable(stack, "Items", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES).table


@pytest.fixture(scope="module")
def wired() -> Template:
    stack = Stack(App(), "Test")
    topic = SecureTopic(stack, "Events")
    TableEventPublisher(stack, "Changes", table=streamed_table(stack), topic=topic.topic, encryption_key=topic.key)
    return Template.from_stack(stack)


def bridge_statements(template: Template) -> list[dict]:
    return [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith("ChangesBridgeRoleDefaultPolicy")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_stream_feeds_the_bridge_with_bisection_bounded_retries_and_a_dlq(wired):
    (table_id,) = wired.find_resources("AWS::DynamoDB::Table")
    (mapping,) = wired.find_resources("AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == 3
    assert props["MaximumRecordAgeInSeconds"] == 86400
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["StartingPosition"] == "TRIM_HORIZON"
    dlq_id = next(k for k in wired.find_resources("AWS::SQS::Queue") if k.startswith("ChangesFailedRecords"))
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}}


def test_bridge_publishes_to_the_topic_only_with_its_key(wired):
    (topic_id,) = wired.find_resources("AWS::SNS::Topic")
    (key_id,) = wired.find_resources("AWS::KMS::Key")
    statements = bridge_statements(wired)
    assert {"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": topic_id}} in statements
    kms = next(s for s in statements if "kms:Decrypt" in s["Action"])
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_bridge_reads_only_its_tables_stream_and_lists_streams_in_a_policy_of_its_own(wired):
    (table_id,) = wired.find_resources("AWS::DynamoDB::Table")
    read = next(s for s in bridge_statements(wired) if "dynamodb:GetRecords" in s["Action"])
    assert read["Resource"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert "*" not in str(bridge_statements(wired))
    listing = [
        p for k, p in wired.find_resources("AWS::IAM::Policy").items() if k.startswith("ChangesStreamListingPolicy")
    ]
    assert listing[0]["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "dynamodb:ListStreams", "Effect": "Allow", "Resource": "*"}
    ]


def test_bridge_may_decrypt_the_stream_of_a_table_with_its_own_key():
    # A table's customer-managed key encrypts its stream too: GetRecords fails without Decrypt.
    stack = Stack(App(), "Test")
    key = kms.Key(stack, "TableKey", enable_key_rotation=True)
    restrict_grants_to_aws_services(key)
    table = SecureTable(stack, "Items", encryption_key=key, stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES).table
    TableEventPublisher(stack, "Changes", table=table, topic=sns.Topic(stack, "Plain", enforce_ssl=True))
    statements = bridge_statements(Template.from_stack(stack))
    assert {
        "Action": "kms:Decrypt",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [stack.get_logical_id(key.node.default_child), "Arn"]},
    } in statements


def test_mapping_waits_for_the_stream_permissions(wired):
    (mapping,) = wired.find_resources("AWS::Lambda::EventSourceMapping").values()
    assert any(d.startswith("ChangesStreamListingPolicy") for d in mapping["DependsOn"])


def test_bridge_is_told_the_topic(wired):
    (topic_id,) = wired.find_resources("AWS::SNS::Topic")
    bridge = next(f for k, f in wired.find_resources("AWS::Lambda::Function").items() if k.startswith("ChangesBridge"))
    assert bridge["Properties"]["Environment"]["Variables"]["TOPIC_ARN"] == {"Ref": topic_id}


def test_alarms_on_errors_dlq_and_iterator_age(wired):
    wired.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "IteratorAge", "Threshold": 300000})
    wired.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 1}
    )


def test_options_reach_the_mapping():
    stack = Stack(App(), "Test")
    topic = sns.Topic(stack, "Plain", enforce_ssl=True)
    TableEventPublisher(
        stack,
        "Changes",
        table=streamed_table(stack),
        topic=topic,
        batch_size=10,
        retry_attempts=0,
        max_record_age=Duration.hours(2),
        parallelization_factor=2,
        max_batching_window=Duration.seconds(5),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 10,
            "MaximumRetryAttempts": 0,
            "MaximumRecordAgeInSeconds": 7200,
            "ParallelizationFactor": 2,
            "MaximumBatchingWindowInSeconds": 5,
        },
    )
    assert "kms" not in str(bridge_statements(template))


def test_with_a_fanout_it_passes_the_nag_packs(tmp_path):
    app = nag_app(tmp_path)
    stack = Stack(app, "Composed")
    events = FanoutQueue(stack, "Events", subscribers={"Audit": {"idempotency_key_field": "event_id"}})
    TableEventPublisher(stack, "Changes", table=streamed_table(stack), topic=events.topic, encryption_key=events.key)
    assert nag_findings(app)["violations"] == []


def test_a_table_without_a_stream_is_refused():
    stack = Stack(App(), "Test")
    table = SecureTable(stack, "Items").table
    with pytest.raises(ValueError, match="the table has no stream"):
        TableEventPublisher(stack, "Changes", table=table, topic=sns.Topic(stack, "T"))


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1001}, "batch_size"),
        ({"retry_attempts": -1}, "retry_attempts"),
        ({"retry_attempts": 11}, "retry_attempts"),
        ({"max_record_age": Duration.seconds(30)}, "max_record_age"),
        ({"max_record_age": Duration.days(8)}, "max_record_age"),
        ({"parallelization_factor": 0}, "parallelization_factor"),
        ({"parallelization_factor": 11}, "parallelization_factor"),
        ({"max_iterator_age": Duration.seconds(0)}, "max_iterator_age"),
    ],
)
def test_invalid_props_raise_a_clear_error(props, message):
    stack = Stack(App(), "Test")
    with pytest.raises(ValueError, match=message):
        TableEventPublisher(stack, "Changes", table=streamed_table(stack), topic=sns.Topic(stack, "T"), **props)


# --- The strict compliance profile -------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_publisher(tmp_path_factory) -> tuple[dict[str, list[tuple[str, str]]], Template]:
    """A strict app: a table with its own key publishing to a FIFO topic, alarms routed."""
    app = strict_app(tmp_path_factory.mktemp("strict-changes"))
    stack = Stack(app, "Strict")
    key = kms.Key(stack, "TableKey", enable_key_rotation=True)
    restrict_grants_to_aws_services(key)
    table = SecureTable(stack, "Items", encryption_key=key, stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES).table
    topic = SecureTopic(stack, "Events", fifo=True)
    TableEventPublisher(stack, "Changes", table=table, topic=topic.topic, encryption_key=topic.key)
    # Alarms must act under strict; an imported topic adds no resource of its own to the findings.
    ops = sns.Topic.from_topic_arn(stack, "Ops", stack.format_arn(service="sns", resource="ops"))
    route_alarms(app, cw_actions.SnsAction(ops))
    findings = synth_findings(app)
    return findings, Template.from_json(json.loads((Path(app.outdir) / "Strict.template.json").read_text()))


def listing_managed_policies(template: Template) -> list[str]:
    return [k for k in template.find_resources("AWS::IAM::ManagedPolicy") if k.startswith("ChangesStreamListingPolicy")]


def test_strict_publisher_and_its_blocks_have_no_finding_of_the_six_rule_sets(strict_publisher):
    findings, _ = strict_publisher
    assert findings_under(findings, "Strict/Changes/") == []


def test_strict_lists_streams_in_a_managed_policy_of_the_bridge_role(strict_publisher):
    _, template = strict_publisher
    (policy_id,) = listing_managed_policies(template)
    policy = template.find_resources("AWS::IAM::ManagedPolicy")[policy_id]
    (role_id,) = [k for k in template.find_resources("AWS::IAM::Role") if k.startswith("ChangesBridgeRole")]
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "dynamodb:ListStreams", "Effect": "Allow", "Resource": "*"}
    ]
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    assert not [k for k in template.find_resources("AWS::IAM::Policy") if k.startswith("ChangesStreamListingPolicy")]


def test_strict_mapping_waits_for_the_managed_listing_policy(strict_publisher):
    _, template = strict_publisher
    (mapping,) = template.find_resources("AWS::Lambda::EventSourceMapping").values()
    (policy_id,) = listing_managed_policies(template)
    assert policy_id in mapping["DependsOn"]


def test_baseline_makes_no_managed_policy(wired):
    wired.resource_count_is("AWS::IAM::ManagedPolicy", 0)
