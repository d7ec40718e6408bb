"""SecureTopic: KMS encryption with a rotating key, TLS-only publishing, FIFO, alarm, bad props."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template
from constructs import Construct

from patterns.blocks import SecureTopic


def new_stack() -> Stack:
    return Stack(App(), "Test")


def logical_id(construct: Construct) -> str:
    return Stack.of(construct).get_logical_id(construct.node.default_child)


@pytest.fixture(scope="module")
def default() -> tuple[SecureTopic, Template]:
    topic = SecureTopic(new_stack(), "Events")
    return topic, Template.from_stack(Stack.of(topic))


def test_makes_a_new_rotating_key(default):
    _, template = default
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_topic_is_encrypted_with_its_new_key(default):
    topic, template = default
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [logical_id(topic.key), "Arn"]}}
    )


def test_a_given_key_is_used_and_no_key_is_made():
    stack = new_stack()
    key = kms.Key(stack, "Shared", enable_key_rotation=True)
    topic = SecureTopic(stack, "Events", encryption_key=key)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [logical_id(key), "Arn"]}})
    assert topic.key is key


def test_publishing_without_tls_is_denied(default):
    topic, template = default
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": logical_id(topic.topic)}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sns:Publish",
                                "Principal": "*",
                                "Resource": {"Ref": logical_id(topic.topic)},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_topic_is_standard_by_default(default):
    _, template = default
    template.has_resource_properties("AWS::SNS::Topic", {"FifoTopic": Match.absent()})


def test_fifo_topic_is_named_with_the_fifo_suffix():
    topic = SecureTopic(new_stack(), "Events", fifo=True, content_based_deduplication=True)
    Template.from_stack(Stack.of(topic)).has_resource_properties(
        "AWS::SNS::Topic",
        {"FifoTopic": True, "ContentBasedDeduplication": True, "TopicName": Match.string_like_regexp(r"\.fifo$")},
    )


def test_alarms_when_a_notification_fails_to_deliver(default):
    topic, template = default
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SNS",
            "MetricName": "NumberOfNotificationsFailed",
            "Dimensions": [{"Name": "TopicName", "Value": {"Fn::GetAtt": [logical_id(topic.topic), "TopicName"]}}],
            "Statistic": "Sum",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )
    assert topic.alarms == [topic.failed_deliveries_alarm]


def test_content_based_deduplication_without_fifo_raises():
    with pytest.raises(ValueError, match="content_based_deduplication needs fifo=True"):
        SecureTopic(new_stack(), "Events", content_based_deduplication=True)


def test_grant_publish_gives_sns_publish_and_exactly_the_key_actions_a_publisher_needs():
    stack = new_stack()
    topic = SecureTopic(stack, "Events")
    publisher = iam.Role(stack, "Publisher", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    topic.grant_publish(publisher)
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert {"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": logical_id(topic.topic)}} in statements
    [on_key] = [s for s in statements if s["Resource"] == {"Fn::GetAtt": [logical_id(topic.key), "Arn"]}]
    # SNS calls GenerateDataKey and Decrypt for the publisher; no wildcard action (cdk-nag IAM5).
    assert sorted(on_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert len(statements) == 2
