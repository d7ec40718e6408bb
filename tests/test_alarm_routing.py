"""AlarmTopic: CloudWatch may use its key and publish to it; its subscriptions; bad props."""

from __future__ import annotations

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_kms as kms, aws_sns_subscriptions as sns_subscriptions
from aws_cdk.assertions import Template
from constructs import Construct

from patterns import AlarmTopic

ACCOUNT = "111111111111"
PARTITION_LITERALS = "@aws-cdk/core:enablePartitionLiterals"
CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}


def ref(construct: Construct) -> dict:
    resource = construct.node.default_child if not hasattr(construct, "cfn_resource_type") else construct
    return {"Ref": Stack.of(construct).get_logical_id(resource)}


def topic_policy_statements(template: Template) -> list[dict]:
    return [s for r in template.find_resources("AWS::SNS::TopicPolicy").values() for s in r["Properties"]["PolicyDocument"]["Statement"]]


def key_policy_statements(template: Template) -> list[dict]:
    return [s for r in template.find_resources("AWS::KMS::Key").values() for s in r["Properties"]["KeyPolicy"]["Statement"]]


def from_this_accounts_alarms(account, alarms_arn) -> dict:
    return {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": alarms_arn}}


AGNOSTIC_ALARMS_ARN = {
    "Fn::Join": [
        "",
        ["arn:", {"Ref": "AWS::Partition"}, ":cloudwatch:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":alarm:*"],
    ]
}


# --- AlarmTopic ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alarm_topic() -> tuple[AlarmTopic, Template]:
    topic = AlarmTopic(Stack(App(), "Test"), "Alarms")
    return topic, Template.from_stack(Stack.of(topic))


def test_the_topic_is_encrypted_with_its_own_rotating_key(alarm_topic):
    topic, template = alarm_topic
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [Stack.of(topic).get_logical_id(topic.key.node.default_child), "Arn"]}}
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    assert topic.secure_topic.topic is topic.topic and topic.secure_topic.key is topic.key


def test_cloudwatch_may_use_the_key_for_this_accounts_alarms_only(alarm_topic):
    _, template = alarm_topic
    statements = [s for s in key_policy_statements(template) if s.get("Principal") == CLOUDWATCH]
    assert statements == [
        {
            "Sid": "CloudWatchAlarmsEncryptNotifications",
            "Effect": "Allow",
            "Principal": CLOUDWATCH,
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": from_this_accounts_alarms({"Ref": "AWS::AccountId"}, AGNOSTIC_ALARMS_ARN),
        }
    ]


def test_cloudwatch_may_publish_to_the_topic_for_this_accounts_alarms_only(alarm_topic):
    topic, template = alarm_topic
    statements = [s for s in topic_policy_statements(template) if s.get("Principal") == CLOUDWATCH]
    assert statements == [
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": CLOUDWATCH,
            "Action": "sns:Publish",
            "Resource": ref(topic.topic),
            "Condition": from_this_accounts_alarms({"Ref": "AWS::AccountId"}, AGNOSTIC_ALARMS_ARN),
        }
    ]


def test_publishing_without_tls_is_still_denied(alarm_topic):
    _, template = alarm_topic
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in topic_policy_statements(template)
    )


def test_the_conditions_name_the_account_region_and_partition_of_an_env_bound_stack():
    app = App(context={PARTITION_LITERALS: True})
    topic = AlarmTopic(Stack(app, "China", env=Environment(account=ACCOUNT, region="cn-north-1")), "Alarms")
    statement = next(s for s in topic_policy_statements(Template.from_stack(Stack.of(topic))) if s.get("Principal") == CLOUDWATCH)
    assert statement["Condition"] == from_this_accounts_alarms(ACCOUNT, f"arn:aws-cn:cloudwatch:cn-north-1:{ACCOUNT}:alarm:*")


def test_a_new_topic_has_no_subscription(alarm_topic):
    _, template = alarm_topic
    template.resource_count_is("AWS::SNS::Subscription", 0)


@pytest.mark.parametrize("email", [["ops@example.com", "oncall@example.com"], "ops@example.com, oncall@example.com"])
def test_each_email_address_is_subscribed(email):
    topic = AlarmTopic(Stack(App(), "Test"), "Alarms", email=email)
    template = Template.from_stack(Stack.of(topic))
    template.resource_count_is("AWS::SNS::Subscription", 2)
    for address in ("ops@example.com", "oncall@example.com"):
        template.has_resource_properties(
            "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": address, "TopicArn": ref(topic.topic)}
        )
    assert topic.email_addresses == ("ops@example.com", "oncall@example.com")


def test_any_other_subscription_is_added():
    stack = Stack(App(), "Test")
    AlarmTopic(stack, "Alarms", subscriptions=[sns_subscriptions.UrlSubscription("https://example.com/alarms")])
    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "https", "Endpoint": "https://example.com/alarms"}
    )


def test_a_key_made_in_the_app_gets_the_cloudwatch_statement():
    stack = Stack(App(), "Test")
    key = kms.Key(stack, "Shared", enable_key_rotation=True)
    topic = AlarmTopic(stack, "Alarms", encryption_key=key)
    assert topic.key is key
    assert any(s.get("Principal") == CLOUDWATCH for s in key_policy_statements(Template.from_stack(stack)))


def test_an_imported_key_is_refused():
    stack = Stack(App(), "Test")
    key = kms.Key.from_key_arn(stack, "Imported", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    with pytest.raises(ValueError, match="encryption_key is imported"):
        AlarmTopic(stack, "Alarms", encryption_key=key)


@pytest.mark.parametrize("email", ["not-an-address", ["ops@example.com", "two words@example.com"], [42]])
def test_an_invalid_email_is_refused(email):
    with pytest.raises(ValueError, match="email"):
        AlarmTopic(Stack(App(), "Test"), "Alarms", email=email)
