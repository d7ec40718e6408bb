"""SecureQueue: SSL-only encrypted queues, redrive, FIFO, alarms, SNS subscription, Lambda consumer, bad props."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template
from constructs import Construct

from patterns.blocks import SecureQueue

INLINE = lambda_.Code.from_inline("def handler(event, context):\n    return None\n")
TLS_ONLY = Match.object_like(
    {"Effect": "Deny", "Action": "sqs:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
)


def new_stack() -> Stack:
    return Stack(App(), "Test")


def logical_id(construct: Construct) -> str:
    return Stack.of(construct).get_logical_id(construct.node.default_child)


def arn_of(construct: Construct) -> dict:
    return {"Fn::GetAtt": [logical_id(construct), "Arn"]}


@dataclass(frozen=True)
class Built:
    construct: SecureQueue
    template: Template

    def queue_properties(self, queue: Construct) -> dict:
        return self.template.to_json()["Resources"][logical_id(queue)]["Properties"]


def build(**props) -> Built:
    stack = new_stack()
    queue = SecureQueue(stack, "Q", **props)
    return Built(queue, Template.from_stack(stack))


def consumer(stack: Stack, timeout: Duration = Duration.seconds(10)) -> lambda_.Function:
    return lambda_.Function(
        stack,
        "Consumer",
        code=INLINE,
        handler="index.handler",
        runtime=lambda_.Runtime.PYTHON_3_14,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


@pytest.fixture(scope="module")
def subscribed() -> Built:
    stack = new_stack()
    queue = SecureQueue(stack, "Q")
    topic = sns.Topic(stack, "Topic")
    queue.subscribe(topic)
    return Built(queue, Template.from_stack(stack))


@pytest.fixture(scope="module")
def consumed() -> Built:
    stack = new_stack()
    queue = SecureQueue(stack, "Q", visibility_timeout=Duration.seconds(60))
    queue.add_consumer(consumer(stack))
    return Built(queue, Template.from_stack(stack))


# --- queues -----------------------------------------------------------------------------------


def test_makes_a_queue_and_its_dead_letter_queue(default):
    default.template.resource_count_is("AWS::SQS::Queue", 2)


@pytest.mark.parametrize("which", ["queue", "dead_letter_queue"])
def test_both_queues_accept_tls_only(default, which):
    queue = getattr(default.construct, which)
    default.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {"Queues": [{"Ref": logical_id(queue)}], "PolicyDocument": {"Statement": Match.array_with([TLS_ONLY])}},
    )


@pytest.mark.parametrize("which", ["queue", "dead_letter_queue"])
def test_both_queues_use_sqs_managed_encryption_by_default(default, which):
    properties = default.queue_properties(getattr(default.construct, which))
    assert properties["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in properties


@pytest.mark.parametrize("which", ["queue", "dead_letter_queue"])
def test_both_queues_use_a_given_kms_key(which):
    stack = new_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    queue = SecureQueue(stack, "Q", encryption_key=key)
    template = Template.from_stack(stack)
    properties = template.to_json()["Resources"][logical_id(getattr(queue, which))]["Properties"]
    assert properties["KmsMasterKeyId"] == arn_of(key)
    assert "SqsManagedSseEnabled" not in properties


def test_failed_messages_move_to_the_dead_letter_queue_after_5_receives(default):
    default.template.has_resource_properties(
        "AWS::SQS::Queue",
        {"RedrivePolicy": {"deadLetterTargetArn": arn_of(default.construct.dead_letter_queue), "maxReceiveCount": 5}},
    )


def test_max_receive_count_can_be_chosen():
    built = build(max_receive_count=2)
    built.template.has_resource_properties("AWS::SQS::Queue", {"RedrivePolicy": {"maxReceiveCount": 2}})


def test_dead_letter_queue_keeps_messages_14_days_and_has_no_redrive_itself(default):
    properties = default.queue_properties(default.construct.dead_letter_queue)
    assert properties["MessageRetentionPeriod"] == 1209600
    assert "RedrivePolicy" not in properties


def test_working_queue_keeps_messages_4_days_by_default(default):
    assert default.queue_properties(default.construct.queue)["MessageRetentionPeriod"] == 345600


def test_retention_period_can_be_chosen():
    built = build(retention_period=Duration.days(1))
    assert built.queue_properties(built.construct.queue)["MessageRetentionPeriod"] == 86400
    assert built.queue_properties(built.construct.dead_letter_queue)["MessageRetentionPeriod"] == 1209600


def test_visibility_timeout_defaults_to_60_seconds_six_times_a_default_function(default):
    assert default.queue_properties(default.construct.queue)["VisibilityTimeout"] == 60


def test_visibility_timeout_passes_through():
    built = build(visibility_timeout=Duration.minutes(2))
    assert built.queue_properties(built.construct.queue)["VisibilityTimeout"] == 120


def test_queues_are_standard_by_default(default):
    default.template.has_resource_properties("AWS::SQS::Queue", {"FifoQueue": Match.absent()})
    assert not default.template.find_resources("AWS::SQS::Queue", {"Properties": {"FifoQueue": True}})


@pytest.mark.parametrize("which", ["queue", "dead_letter_queue"])
def test_fifo_makes_both_queues_fifo(which):
    built = build(fifo=True, content_based_deduplication=True)
    properties = built.queue_properties(getattr(built.construct, which))
    assert properties["FifoQueue"] is True
    assert properties["ContentBasedDeduplication"] is True


def test_queues_are_deleted_with_the_stack_by_default(default):
    queues = default.template.find_resources("AWS::SQS::Queue")
    assert {q["DeletionPolicy"] for q in queues.values()} == {"Delete"}


# --- alarms -----------------------------------------------------------------------------------


def test_alarms_as_soon_as_the_dead_letter_queue_holds_a_message(default):
    default.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [
                {
                    "Name": "QueueName",
                    "Value": {"Fn::GetAtt": [logical_id(default.construct.dead_letter_queue), "QueueName"]},
                }
            ],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": Match.absent(),
        },
    )


def test_alarms_when_the_oldest_message_is_15_minutes_old(default):
    default.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateAgeOfOldestMessage",
            "Dimensions": [
                {"Name": "QueueName", "Value": {"Fn::GetAtt": [logical_id(default.construct.queue), "QueueName"]}}
            ],
            "Statistic": "Maximum",
            "Threshold": 900,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )


def test_message_age_threshold_can_be_chosen():
    built = build(max_message_age=Duration.minutes(2))
    built.template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ApproximateAgeOfOldestMessage", "Threshold": 120}
    )


def test_alarms_lists_every_alarm_it_made(default):
    default.template.resource_count_is("AWS::CloudWatch::Alarm", 2)
    assert default.construct.alarms == [default.construct.dead_letter_alarm, default.construct.message_age_alarm]


# --- subscribe ----------------------------------------------------------------------------------


def test_subscription_delivers_raw_messages_to_the_queue(subscribed):
    subscribed.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "sqs", "Endpoint": arn_of(subscribed.construct.queue), "RawMessageDelivery": True},
    )


def test_undeliverable_notifications_go_to_the_dead_letter_queue(subscribed):
    subscribed.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"RedrivePolicy": {"deadLetterTargetArn": arn_of(subscribed.construct.dead_letter_queue)}},
    )


@pytest.mark.parametrize("which", ["queue", "dead_letter_queue"])
def test_only_the_topic_may_send_to_the_queues_over_tls(subscribed, which):
    subscribed.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": logical_id(getattr(subscribed.construct, which))}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        TLS_ONLY,
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "sqs:SendMessage",
                                "Principal": {"Service": "sns.amazonaws.com"},
                                "Condition": {
                                    "ArnEquals": {"aws:SourceArn": {"Ref": Match.string_like_regexp("^Topic")}}
                                },
                            }
                        ),
                    ]
                )
            },
        },
    )


def test_raw_delivery_can_be_turned_off():
    stack = new_stack()
    SecureQueue(stack, "Q").subscribe(sns.Topic(stack, "Topic"), raw_message_delivery=False)
    Template.from_stack(stack).has_resource_properties("AWS::SNS::Subscription", {"RawMessageDelivery": False})


def test_attribute_filter_policy_is_passed_through():
    stack = new_stack()
    SecureQueue(stack, "Q").subscribe(
        sns.Topic(stack, "Topic"),
        filter_policy={"kind": sns.SubscriptionFilter.string_filter(allowlist=["order"])},
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"FilterPolicy": {"kind": ["order"]}, "FilterPolicyScope": Match.absent()}
    )


def test_message_body_filter_policy_is_passed_through():
    stack = new_stack()
    SecureQueue(stack, "Q").subscribe(
        sns.Topic(stack, "Topic"),
        filter_policy_with_message_body={
            "kind": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.string_filter(allowlist=["order"]))
        },
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"FilterPolicy": {"kind": ["order"]}, "FilterPolicyScope": "MessageBody"}
    )


def test_both_filter_kinds_at_once_raise():
    stack = new_stack()
    queue = SecureQueue(stack, "Q")
    with pytest.raises(ValueError, match="give filter_policy or filter_policy_with_message_body, not both"):
        queue.subscribe(
            sns.Topic(stack, "Topic"),
            filter_policy={"kind": sns.SubscriptionFilter.string_filter(allowlist=["order"])},
            filter_policy_with_message_body={
                "kind": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.string_filter(allowlist=["order"]))
            },
        )


# --- add_consumer -------------------------------------------------------------------------------


def test_consumer_reads_the_queue_reporting_failed_records_one_by_one(consumed):
    consumed.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": arn_of(consumed.construct.queue),
            "FunctionName": {"Ref": Match.string_like_regexp("^Consumer")},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": Match.absent(),
            "ScalingConfig": Match.absent(),
        },
    )


def test_consumer_may_only_consume_that_queue(consumed):
    policies = consumed.template.find_resources("AWS::IAM::Policy")
    (policy,) = policies.values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueUrl",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ],
            "Effect": "Allow",
            "Resource": arn_of(consumed.construct.queue),
        }
    ]


def test_consumer_of_a_kms_queue_may_decrypt_with_that_key_only():
    stack = new_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    queue = SecureQueue(stack, "Q", encryption_key=key, visibility_timeout=Duration.seconds(60))
    queue.add_consumer(consumer(stack))
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with([{"Action": "kms:Decrypt", "Effect": "Allow", "Resource": arn_of(key)}])
            }
        },
    )


def test_batching_window_batch_size_and_concurrency_pass_through():
    stack = new_stack()
    queue = SecureQueue(stack, "Q", visibility_timeout=Duration.seconds(60))
    queue.add_consumer(consumer(stack), batch_size=100, max_batching_window=Duration.seconds(5), max_concurrency=3)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 5, "ScalingConfig": {"MaximumConcurrency": 3}},
    )


def test_visibility_timeout_of_exactly_six_consumer_timeouts_is_accepted():
    stack = new_stack()
    queue = SecureQueue(stack, "Q", visibility_timeout=Duration.seconds(60))
    mapping = queue.add_consumer(consumer(stack, timeout=Duration.seconds(10)))
    assert isinstance(mapping, lambda_.EventSourceMapping)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be between 1 and 10000, got 0"),
        ({"batch_size": 10_001, "max_batching_window": Duration.seconds(1)}, "batch_size must be between 1 and 10000"),
        ({"batch_size": 11}, "a batch_size over 10 needs a max_batching_window"),
        ({"max_concurrency": 1}, "max_concurrency must be between 2 and 1000, got 1"),
        ({"max_concurrency": 1001}, "max_concurrency must be between 2 and 1000, got 1001"),
    ],
)
def test_invalid_consumer_settings_raise(kwargs, message):
    stack = new_stack()
    queue = SecureQueue(stack, "Q", visibility_timeout=Duration.seconds(60))
    with pytest.raises(ValueError, match=re.escape(message)):
        queue.add_consumer(consumer(stack), **kwargs)


def test_visibility_timeout_shorter_than_six_consumer_timeouts_raises():
    stack = new_stack()
    queue = SecureQueue(stack, "Q", visibility_timeout=Duration.seconds(59))
    message = "visibility_timeout (59 s) must be at least 6x the consumer's timeout (10 s)"
    with pytest.raises(ValueError, match=re.escape(message)):
        queue.add_consumer(consumer(stack, timeout=Duration.seconds(10)))


def test_visibility_timeout_is_checked_against_an_alias_consumer():
    stack = new_stack()
    queue = SecureQueue(stack, "Q", visibility_timeout=Duration.seconds(30))
    function = consumer(stack, timeout=Duration.minutes(5))
    alias = lambda_.Alias(stack, "Live", alias_name="live", version=function.current_version)
    with pytest.raises(ValueError, match="visibility_timeout"):
        queue.add_consumer(alias)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 20, "max_batching_window": Duration.seconds(5)},
        {"batch_size": 10, "max_batching_window": Duration.seconds(5)},
    ],
)
def test_fifo_queue_refuses_consumer_settings_lambda_does_not_support(kwargs):
    stack = new_stack()
    queue = SecureQueue(stack, "Q", fifo=True, visibility_timeout=Duration.seconds(60))
    with pytest.raises(ValueError):
        queue.add_consumer(consumer(stack), **kwargs)


# --- props validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"max_receive_count": 0}, "max_receive_count must be at least 1, got 0"),
        ({"retention_period": Duration.seconds(59)}, "retention_period must be between 60 seconds and 14 days"),
        ({"retention_period": Duration.days(15)}, "retention_period must be between 60 seconds and 14 days"),
        ({"visibility_timeout": Duration.hours(13)}, "visibility_timeout must be between 0 seconds and 12 hours"),
        ({"content_based_deduplication": True}, "content_based_deduplication needs fifo=True"),
    ],
)
def test_invalid_props_raise_a_clear_value_error(props, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SecureQueue(new_stack(), "Q", **props)


@pytest.mark.parametrize(
    "props",
    [
        {"max_receive_count": 1},
        {"retention_period": Duration.seconds(60), "max_message_age": Duration.seconds(30)},
        {"retention_period": Duration.days(14)},
        {"visibility_timeout": Duration.hours(12)},
        {"visibility_timeout": Duration.seconds(0)},
    ],
)
def test_limits_themselves_are_accepted(props):
    assert SecureQueue(new_stack(), "Q", **props).queue is not None


def test_message_age_alarm_threshold_must_be_below_retention():
    with pytest.raises(ValueError, match="max_message_age must be shorter than retention_period"):
        SecureQueue(new_stack(), "Q", retention_period=Duration.minutes(10), max_message_age=Duration.minutes(10))
