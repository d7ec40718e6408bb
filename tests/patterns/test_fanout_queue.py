"""FanoutQueue: topic, per-subscriber queues/DLQs/consumers, exact grants, keys, alarms, bad props."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template
from nag_check import nag_app, nag_findings
from strict_check import findings_under, strict_app, synth_findings

from patterns import FanoutQueue, SecureFunction, SecureTable, TableEventPublisher, route_alarms
from patterns.compliance import COMPLIANCE_CONTEXT
from patterns.fanout_queue import IDEMPOTENCY_TABLE_ACTIONS

INLINE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")
SHIPPED = {"event_type": sns.SubscriptionFilter.string_filter(allowlist=["order.shipped"])}


def new_stack() -> Stack:
    return Stack(App(), "Test")


@pytest.fixture(scope="module")
def two_subscribers() -> tuple[FanoutQueue, Template]:
    stack = new_stack()
    fanout = FanoutQueue(stack, "Orders")
    fanout.add_subscriber("Billing", idempotency_key_field="event_id")
    fanout.add_subscriber("Shipping", filter_policy=SHIPPED, max_receive_count=3, batch_size=5)
    return fanout, Template.from_stack(stack)


def role_statements(template: Template, role_prefix: str) -> list[dict]:
    statements = []
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        if logical_id.startswith(role_prefix):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def logical_id(template: Template, type_: str, prefix: str) -> str:
    (found,) = [k for k in template.find_resources(type_) if k.startswith(prefix)]
    return found


def test_works_with_no_props_and_exposes_the_topic():
    stack = new_stack()
    fanout = FanoutQueue(stack, "Events")
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Topic", 1)
    template.resource_count_is("AWS::SQS::Queue", 0)
    assert fanout.topic is fanout.secure_topic.topic
    assert fanout.subscribers == {}


def test_topic_is_encrypted_with_a_rotating_key_and_ssl_only(two_subscribers):
    _, template = two_subscribers
    topic_key = logical_id(template, "AWS::KMS::Key", "OrdersEventsKey")
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [topic_key, "Arn"]}})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_each_subscriber_gets_its_own_queue_dlq_function_and_table(two_subscribers):
    fanout, template = two_subscribers
    template.resource_count_is("AWS::SQS::Queue", 4)
    template.resource_count_is("AWS::Lambda::Function", 2)
    template.resource_count_is("AWS::SNS::Subscription", 2)
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 2)
    template.resource_count_is(
        "AWS::DynamoDB::Table", 2
    )  # one per subscriber; bundled consumers need no idempotency table
    billing = fanout.subscribers["Billing"]
    assert billing.queue is billing.secure_queue.queue
    assert billing.dead_letter_queue is billing.secure_queue.dead_letter_queue
    assert billing.function is billing.secure_function.function


def test_queues_are_encrypted_with_the_queue_key_not_the_topic_key(two_subscribers):
    _, template = two_subscribers
    queue_key = logical_id(template, "AWS::KMS::Key", "OrdersQueueKey")
    for queue in template.find_resources("AWS::SQS::Queue").values():
        assert queue["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [queue_key, "Arn"]}


def test_queue_key_lets_sns_encrypt_for_this_topic_only(two_subscribers):
    _, template = two_subscribers
    topic = logical_id(template, "AWS::SNS::Topic", "OrdersEventsTopic")
    key = template.find_resources("AWS::KMS::Key")[logical_id(template, "AWS::KMS::Key", "OrdersQueueKey")]
    (sns_statement,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "sns.amazonaws.com"}
    ]
    assert sorted(sns_statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert sns_statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": topic}}}


def test_subscriptions_use_raw_delivery_a_dlq_and_the_filter_policy(two_subscribers):
    _, template = two_subscribers
    shipping_dlq = logical_id(template, "AWS::SQS::Queue", "OrdersShippingInboxDeadLetterQueue")
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "sqs",
            "RawMessageDelivery": True,
            "FilterPolicy": {"event_type": ["order.shipped"]},
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [shipping_dlq, "Arn"]}},
        },
    )
    billing = [
        s for s in template.find_resources("AWS::SNS::Subscription").values() if "FilterPolicy" not in s["Properties"]
    ]
    assert len(billing) == 1


def test_only_the_topic_may_send_to_a_subscriber_queue(two_subscribers):
    _, template = two_subscribers
    topic = logical_id(template, "AWS::SNS::Topic", "OrdersEventsTopic")
    queue = logical_id(template, "AWS::SQS::Queue", "OrdersBillingInboxQueue")
    policy = next(
        p
        for p in template.find_resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue}]
    )
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Action": "sqs:SendMessage",
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": topic}}},
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Resource": {"Fn::GetAtt": [queue, "Arn"]},
        }
    ]


def test_redrive_and_visibility_follow_the_consumer(two_subscribers):
    _, template = two_subscribers
    shipping_dlq = logical_id(template, "AWS::SQS::Queue", "OrdersShippingInboxDeadLetterQueue")
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [shipping_dlq, "Arn"]}, "maxReceiveCount": 3},
            "VisibilityTimeout": 180,  # 6 x the 30 s consumer timeout
        },
    )


def test_event_sources_report_batch_item_failures_with_the_batch_size(two_subscribers):
    _, template = two_subscribers
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"BatchSize": 5, "FunctionResponseTypes": ["ReportBatchItemFailures"]}
    )


def test_consumer_may_consume_only_its_own_queue_and_write_only_its_tables(two_subscribers):
    _, template = two_subscribers
    statements = role_statements(template, "OrdersBillingConsumerRoleDefaultPolicy")
    queue = logical_id(template, "AWS::SQS::Queue", "OrdersBillingInboxQueue")
    table = logical_id(template, "AWS::DynamoDB::Table", "OrdersBillingProcessed")
    queue_key = logical_id(template, "AWS::KMS::Key", "OrdersQueueKey")
    by_resource = {
        str(r): s["Action"]
        for s in statements
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    assert by_resource[str({"Fn::GetAtt": [table, "Arn"]})] == "dynamodb:PutItem"
    # The conditional write is the bundled consumer's guard: no idempotency table, so no grant on one.
    assert "dynamodb:GetItem" not in str(statements) and "dynamodb:DeleteItem" not in str(statements)
    assert "sqs:ReceiveMessage" in by_resource[str({"Fn::GetAtt": [queue, "Arn"]})]
    assert "sqs:SendMessage" not in str(statements)
    assert by_resource[str({"Fn::GetAtt": [queue_key, "Arn"]})] == "kms:Decrypt"
    shipping_queue = logical_id(template, "AWS::SQS::Queue", "OrdersShippingInboxQueue")
    assert shipping_queue not in str(statements)


def test_consumer_environment_names_its_tables_and_idempotency_key(two_subscribers):
    _, template = two_subscribers
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "TABLE_NAME": {"Ref": Match.string_like_regexp("^OrdersBillingProcessed")},
                        "IDEMPOTENCY_KEY_FIELD": "event_id",
                        "IDEMPOTENCY_TABLE_NAME": Match.absent(),
                    }
                )
            }
        },
    )


def _consumer_variables(template: Template, prefix: str) -> dict:
    (function,) = [f for k, f in template.find_resources("AWS::Lambda::Function").items() if k.startswith(prefix)]
    return function["Properties"]["Environment"]["Variables"]


def test_without_raw_delivery_the_consumer_keys_on_the_sns_message_id():
    # SNS's envelope: its MessageId is the same in every delivery of one publish.
    stack = new_stack()
    fanout = FanoutQueue(stack, "Orders")
    fanout.add_subscriber("Billing", raw_message_delivery=False)
    fanout.add_subscriber("Audit", raw_message_delivery=False, idempotency_key_field="MessageId")
    template = Template.from_stack(stack)
    assert _consumer_variables(template, "OrdersBillingConsumer")["IDEMPOTENCY_KEY_FIELD"] == "MessageId"
    assert _consumer_variables(template, "OrdersAuditConsumer")["IDEMPOTENCY_KEY_FIELD"] == "MessageId"


def test_with_raw_delivery_and_no_key_field_the_consumer_keys_on_the_sqs_message_id(two_subscribers):
    _, template = two_subscribers
    assert "IDEMPOTENCY_KEY_FIELD" not in _consumer_variables(template, "OrdersShippingConsumer")


def test_bundled_consumers_need_no_idempotency_table(two_subscribers):
    fanout, template = two_subscribers
    assert fanout.idempotency_table is None
    assert not template.find_resources(
        "AWS::DynamoDB::Table", {"Properties": {"TimeToLiveSpecification": Match.any_value()}}
    )


def test_alarms_cover_dlq_message_age_and_consumer_errors(two_subscribers):
    fanout, template = two_subscribers
    assert len(fanout.subscribers["Billing"].alarms) == 3
    assert len(fanout.alarms) == 1 + 2 * 3
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 1}
    )
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "ApproximateAgeOfOldestMessage"})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Errors"})


def test_subscribers_prop_adds_the_same_as_add_subscriber():
    stack = new_stack()
    fanout = FanoutQueue(stack, "Orders", subscribers={"Audit": {}, "Notify": {"filter_policy": SHIPPED}})
    assert sorted(fanout.subscribers) == ["Audit", "Notify"]
    Template.from_stack(stack).resource_count_is("AWS::SNS::Subscription", 2)


def test_fifo_topic_makes_fifo_queues():
    stack = new_stack()
    fanout = FanoutQueue(stack, "Orders", fifo=True, content_based_deduplication=True)
    fanout.add_subscriber("Billing")
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::SNS::Topic", {"FifoTopic": True, "ContentBasedDeduplication": True})
    for queue in template.find_resources("AWS::SQS::Queue").values():
        assert queue["Properties"]["FifoQueue"] is True


def test_an_existing_topic_and_an_existing_consumer_can_be_used():
    stack = new_stack()
    topic = sns.Topic(stack, "Existing", enforce_ssl=True)
    consumer = SecureFunction(stack, "Mine", code=INLINE, handler="index.handler", timeout=Duration.seconds(20))
    fanout = FanoutQueue(stack, "Orders", topic=topic)
    subscriber = fanout.add_subscriber("Mine", function=consumer.function)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Topic", 1)
    template.resource_count_is("AWS::DynamoDB::Table", 0)  # no bundled consumer, no tables
    assert subscriber.function is consumer.function and subscriber.secure_function is None
    assert fanout.key is None and fanout.idempotency_table is None
    template.has_resource_properties("AWS::SQS::Queue", {"VisibilityTimeout": 120})
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"TopicArn": {"Ref": Match.string_like_regexp("^Existing")}}
    )


def test_own_code_gets_the_idempotency_table_with_powertools_actions_but_no_processed_table():
    stack = new_stack()
    fanout = FanoutQueue(stack, "Orders")
    subscriber = fanout.add_subscriber("Custom", code=INLINE, handler="index.handler")
    fanout.add_subscriber("Bundled")
    assert subscriber.table is None and fanout.idempotency_table is not None
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::DynamoDB::Table", 2)  # the idempotency table, the bundled consumer's table
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True}}
    )
    idempotency = logical_id(template, "AWS::DynamoDB::Table", "OrdersIdempotency")
    custom = role_statements(template, "OrdersCustomConsumerRoleDefaultPolicy")
    granted = [s["Action"] for s in custom if idempotency in str(s["Resource"])]
    assert [sorted(a) for a in granted] == [sorted(IDEMPOTENCY_TABLE_ACTIONS)]
    assert idempotency not in str(role_statements(template, "OrdersBundledConsumerRoleDefaultPolicy"))
    assert _consumer_variables(template, "OrdersCustomConsumer")["IDEMPOTENCY_TABLE_NAME"] == {"Ref": idempotency}


def test_two_fanouts_and_all_options_pass_the_nag_packs(tmp_path):
    app = nag_app(tmp_path)
    stack = Stack(app, "Composed")
    FanoutQueue(stack, "Orders", subscribers={"Billing": {}, "Shipping": {"filter_policy": SHIPPED}})
    fifo = FanoutQueue(stack, "Ledger", fifo=True, content_based_deduplication=True)
    fifo.add_subscriber("Post", batch_size=5, max_concurrency=5)
    consumer = SecureFunction(stack, "Mine", code=INLINE, handler="index.handler")
    fifo.add_subscriber("Mine", function=consumer.function)
    assert nag_findings(app)["violations"] == []


def test_grant_publish_gives_sns_publish_and_exactly_the_key_actions_a_publisher_needs():
    stack = new_stack()
    fanout = FanoutQueue(stack, "Orders")
    publisher = SecureFunction(stack, "Api", code=INLINE, handler="index.handler")
    fanout.grant_publish(publisher.function)
    template = Template.from_stack(stack)
    statements = role_statements(template, "ApiRoleDefaultPolicy")
    topic_id = logical_id(template, "AWS::SNS::Topic", "OrdersEvents")
    key_id = logical_id(template, "AWS::KMS::Key", "OrdersEventsKey")
    assert {"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": topic_id}} in statements
    [on_key] = [s for s in statements if s["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}]
    assert sorted(on_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_grant_publish_on_an_existing_topic_uses_its_key():
    stack = new_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    fanout = FanoutQueue(stack, "Orders", topic=sns.Topic(stack, "Mine", master_key=key, enforce_ssl=True))
    publisher = SecureFunction(stack, "Api", code=INLINE, handler="index.handler")
    fanout.grant_publish(publisher.function)
    statements = role_statements(Template.from_stack(stack), "ApiRoleDefaultPolicy")
    [on_key] = [
        s for s in statements if s["Resource"] == {"Fn::GetAtt": [stack.get_logical_id(key.node.default_child), "Arn"]}
    ]
    assert sorted(on_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def _publisher_app(tmp_path, grant) -> list[tuple[str, str]]:
    """Violations of an env-bound app where a user's function is let publish by ``grant``."""
    app = nag_app(tmp_path)
    stack = Stack(app, "Users", env=Environment(account="111111111111", region="eu-west-1"))
    fanout = FanoutQueue(stack, "Orders", subscribers={"Billing": {"idempotency_key_field": "event_id"}})
    ledger = FanoutQueue(stack, "Ledger", fifo=True, subscribers={"Post": {"idempotency_key_field": "event_id"}})
    table = SecureTable(stack, "Items", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES)
    TableEventPublisher(stack, "Changes", table=table.table, topic=ledger.topic)
    mine = SecureFunction(stack, "Mine", code=INLINE, handler="index.handler")
    grant(fanout, mine.function)
    return nag_findings(app)["violations"]


def test_a_publisher_granted_by_the_fanout_passes_both_nag_packs_in_an_env_bound_stack(tmp_path):
    assert _publisher_app(tmp_path, lambda fanout, fn: fanout.grant_publish(fn)) == []


def test_the_topics_own_grant_publish_leaves_a_wildcard_finding_on_the_publisher(tmp_path):
    # Why grant_publish exists: the L2's kms:GenerateDataKey* is reported on the user's function.
    violations = _publisher_app(tmp_path, lambda fanout, fn: fanout.topic.grant_publish(fn))
    assert violations == [("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "Users/Mine/Role/DefaultPolicy/Resource")]


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"content_based_deduplication": True}, "needs fifo=True"),
    ],
)
def test_invalid_fanout_props_raise(props, message):
    with pytest.raises(ValueError, match=message):
        FanoutQueue(new_stack(), "Orders", **props)


def test_existing_topic_with_new_topic_props_is_refused():
    stack = new_stack()
    topic = sns.Topic(stack, "T")
    with pytest.raises(ValueError, match="topic= was given"):
        FanoutQueue(stack, "Orders", topic=topic, fifo=True)
    with pytest.raises(ValueError, match="topic= was given"):
        FanoutQueue(stack, "Orders2", topic=topic, encryption_key=kms.Key(stack, "K", enable_key_rotation=True))


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"max_receive_count": 0}, "max_receive_count"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 50}, "max_batching_window"),
        ({"max_concurrency": 1}, "max_concurrency"),
        ({"handler": "x.handler"}, "handler= needs code="),
        ({"idempotency_key_field": " "}, "idempotency_key_field"),
        ({"raw_message_delivery": False, "idempotency_key_field": "TopicArn"}, "only 'MessageId' identifies an event"),
        ({"raw_message_delivery": False, "idempotency_key_field": "event_id"}, "distinct events collide"),
        ({"idempotency_ttl": Duration.seconds(10)}, "idempotency_ttl"),
        ({"timeout": Duration.seconds(30), "visibility_timeout": Duration.seconds(60)}, "visibility_timeout"),
        (
            {
                "filter_policy": SHIPPED,
                "filter_policy_with_message_body": {
                    "a": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.exists_filter())
                },
            },
            "not both",
        ),
    ],
)
def test_invalid_subscriber_props_raise(props, message):
    fanout = FanoutQueue(new_stack(), "Orders")
    with pytest.raises(ValueError, match=message):
        fanout.add_subscriber("Billing", **props)


@pytest.mark.parametrize("name", ["", "1st", "has space", "x" * 65])
def test_bad_subscriber_names_are_refused(name):
    with pytest.raises(ValueError, match="subscriber name"):
        FanoutQueue(new_stack(), "Orders").add_subscriber(name)


def test_duplicate_subscriber_is_refused():
    fanout = FanoutQueue(new_stack(), "Orders")
    fanout.add_subscriber("Billing")
    with pytest.raises(ValueError, match="already exists"):
        fanout.add_subscriber("Billing")


def test_fifo_batches_are_at_most_ten():
    fanout = FanoutQueue(new_stack(), "Orders", fifo=True)
    with pytest.raises(ValueError, match="at most 10 and no max_batching_window"):
        fanout.add_subscriber("Billing", batch_size=20, max_batching_window=Duration.seconds(1))


def test_existing_function_with_consumer_props_is_refused():
    stack = new_stack()
    consumer = SecureFunction(stack, "Mine", code=INLINE, handler="index.handler")
    with pytest.raises(ValueError, match="function= was given, so code"):
        FanoutQueue(stack, "Orders").add_subscriber("Mine", function=consumer.function, code=INLINE)


# --- The strict compliance profile -------------------------------------------------------------

CREATE_GRANT_DENY = {
    "Sid": "CreateGrantOnlyForAWSResources",
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "kms:CreateGrant",
    "Resource": "*",
    "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
}


@pytest.fixture(scope="module")
def strict_fanout(tmp_path_factory) -> tuple[dict[str, list[tuple[str, str]]], Template]:
    """A strict app with a default FanoutQueue, a bundled and an existing consumer, alarms routed."""
    app = strict_app(tmp_path_factory.mktemp("strict-fanout"))
    stack = Stack(app, "Strict")
    fanout = FanoutQueue(stack, "Orders")
    fanout.add_subscriber("Billing")
    fanout.add_subscriber("Mine", function=SecureFunction(stack, "Mine", code=INLINE, handler="index.handler").function)
    # Alarms must act under strict; an imported topic adds no resource of its own to the findings.
    ops = sns.Topic.from_topic_arn(stack, "Ops", stack.format_arn(service="sns", resource="ops"))
    route_alarms(app, cw_actions.SnsAction(ops))
    findings = synth_findings(app)
    return findings, Template.from_json(json.loads((Path(app.outdir) / "Strict.template.json").read_text()))


def test_strict_fanout_and_its_blocks_have_no_finding_of_the_six_rule_sets(strict_fanout):
    findings, _ = strict_fanout
    assert findings_under(findings, "Strict/Orders/") == []


def test_strict_queue_key_lets_only_aws_services_create_grants(strict_fanout):
    _, template = strict_fanout
    key = template.find_resources("AWS::KMS::Key")[logical_id(template, "AWS::KMS::Key", "OrdersQueueKey")]
    assert CREATE_GRANT_DENY in key["Properties"]["KeyPolicy"]["Statement"]


def test_strict_leaves_a_queue_key_you_pass_as_it_is():
    stack = Stack(App(context={COMPLIANCE_CONTEXT: "strict"}), "Test")
    key = kms.Key(stack, "Mine", enable_key_rotation=True)
    FanoutQueue(stack, "Orders", queue_encryption_key=key)
    mine = Template.from_stack(stack).find_resources("AWS::KMS::Key")[stack.get_logical_id(key.node.default_child)]
    assert CREATE_GRANT_DENY not in mine["Properties"]["KeyPolicy"]["Statement"]


def test_baseline_queue_key_has_no_strict_statement(two_subscribers):
    _, template = two_subscribers
    key = template.find_resources("AWS::KMS::Key")[logical_id(template, "AWS::KMS::Key", "OrdersQueueKey")]
    assert "kms:CreateGrant" not in json.dumps(key["Properties"]["KeyPolicy"])
