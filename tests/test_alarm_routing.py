"""AlarmTopic (CloudWatch may use its key and publish to it) and route_alarms (every alarm reaches someone)."""

from __future__ import annotations

import pytest
from alarms import alarm, l1_alarm
from aws_cdk import App, Aspects, Environment, NestedStack, Stack, Stage
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as sns_subscriptions
from aws_cdk.assertions import Annotations, Match, Template
from constructs import Construct
from nag_check import nag_app, nag_findings

from patterns import AlarmRouting, AlarmTopic, ApiLambdaTable, FanoutQueue, route_alarms
from patterns.alarm_routing import ALARM_EMAIL_CONTEXT, ALARM_EMAIL_ENVIRONMENT_VARIABLE, ALARM_TOPIC_ID
from patterns.blocks import POWERTOOLS_LAYER_CONTEXT

ACCOUNT = "111111111111"
BOUND = Environment(account=ACCOUNT, region="eu-west-1")
PARTITION_LITERALS = "@aws-cdk/core:enablePartitionLiterals"
CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}


@pytest.fixture(autouse=True)
def no_alarm_email_in_the_environment(monkeypatch):
    monkeypatch.delenv(ALARM_EMAIL_ENVIRONMENT_VARIABLE, raising=False)


def ref(construct: Construct) -> dict:
    resource = construct.node.default_child if not hasattr(construct, "cfn_resource_type") else construct
    return {"Ref": Stack.of(construct).get_logical_id(resource)}


def alarm_properties(template: Template) -> dict[str, dict]:
    return {name: r["Properties"] for name, r in template.find_resources("AWS::CloudWatch::Alarm").items()}


def topic_policy_statements(template: Template) -> list[dict]:
    return [
        s
        for r in template.find_resources("AWS::SNS::TopicPolicy").values()
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def key_policy_statements(template: Template) -> list[dict]:
    return [
        s for r in template.find_resources("AWS::KMS::Key").values() for s in r["Properties"]["KeyPolicy"]["Statement"]
    ]


def from_this_accounts_alarms(account, alarms_arn) -> dict:
    return {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": alarms_arn}}


AGNOSTIC_ALARMS_ARN = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":cloudwatch:",
            {"Ref": "AWS::Region"},
            ":",
            {"Ref": "AWS::AccountId"},
            ":alarm:*",
        ],
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
        "AWS::SNS::Topic",
        {"KmsMasterKeyId": {"Fn::GetAtt": [Stack.of(topic).get_logical_id(topic.key.node.default_child), "Arn"]}},
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
    statement = next(
        s for s in topic_policy_statements(Template.from_stack(Stack.of(topic))) if s.get("Principal") == CLOUDWATCH
    )
    assert statement["Condition"] == from_this_accounts_alarms(
        ACCOUNT, f"arn:aws-cn:cloudwatch:cn-north-1:{ACCOUNT}:alarm:*"
    )


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


def test_email_subscriptions_redrive_undelivered_notifications_to_a_dead_letter_queue_with_an_alarm():
    topic = AlarmTopic(Stack(App(), "Test"), "Alarms", email="ops@example.com")
    template = Template.from_stack(Stack.of(topic))
    queue_arn = {"Fn::GetAtt": [Stack.of(topic).get_logical_id(topic.dead_letter_queue.node.default_child), "Arn"]}
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "RedrivePolicy": {"deadLetterTargetArn": queue_arn}}
    )
    template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    assert topic.alarms == [topic.failed_deliveries_alarm, topic.dead_letter_alarm]


def test_without_email_there_is_no_dead_letter_queue(alarm_topic):
    topic, template = alarm_topic
    template.resource_count_is("AWS::SQS::Queue", 0)
    assert topic.dead_letter_queue is None and topic.alarms == [topic.failed_deliveries_alarm]


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
    key = kms.Key.from_key_arn(
        stack, "Imported", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    with pytest.raises(ValueError, match="encryption_key is imported"):
        AlarmTopic(stack, "Alarms", encryption_key=key)


@pytest.mark.parametrize("email", ["not-an-address", ["ops@example.com", "two words@example.com"], [42]])
def test_an_invalid_email_is_refused(email):
    with pytest.raises(ValueError, match="email"):
        AlarmTopic(Stack(App(), "Test"), "Alarms", email=email)


# --- route_alarms on the demo app ---------------------------------------------------------------


@pytest.mark.parametrize(
    "stack_name",
    ["ApiLambdaTableDemo", "BuildingBlocksDemo", "CanaryDemo", "CognitoApiDemo", "FanoutDemo", "ItemsServiceDemo"],
)
def test_every_demo_alarm_notifies_and_recovers_through_a_topic_of_its_own_stack(demo_app, stack_name):
    resources = demo_app.template(stack_name)["Resources"]
    topics = {name for name, r in resources.items() if r["Type"] == "AWS::SNS::Topic"}
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms, f"{stack_name} has no alarm"
    for name, properties in alarms.items():
        own_deliveries = name.startswith(f"{ALARM_TOPIC_ID}Encrypted") and "FailedDeliveries" in name
        for key in ("AlarmActions",) if own_deliveries else ("AlarmActions", "OKActions"):
            actions = properties.get(key, [])
            assert len(actions) == 1 and actions[0].get("Ref") in topics, (name, key, actions)
        assert "InsufficientDataActions" not in properties, name


@pytest.mark.parametrize("stack_name", ["ApiLambdaTableDemo", "ItemsServiceDemo"])
def test_each_demo_stack_has_one_alarm_topic_that_cloudwatch_may_publish_to(demo_app, stack_name):
    resources = demo_app.template(stack_name)["Resources"]
    routed = {
        r["Properties"]["AlarmActions"][0]["Ref"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert len(routed) == 1
    (topic,) = routed
    policy = next(
        r
        for r in resources.values()
        if r["Type"] == "AWS::SNS::TopicPolicy" and {"Ref": topic} in r["Properties"]["Topics"]
    )
    assert any(s.get("Principal") == CLOUDWATCH for s in policy["Properties"]["PolicyDocument"]["Statement"])


# --- route_alarms: targets, scopes, decisions ---------------------------------------------------


def test_a_stack_gets_one_alarm_topic_that_its_alarms_and_the_topics_own_alarm_use():
    stack = Stack(App(), "Service")
    alarm(stack, "First")
    alarm(Construct(stack, "Part"), "Second")
    route_alarms(stack)
    template = Template.from_stack(stack)
    topic = stack.node.find_child(ALARM_TOPIC_ID)
    assert isinstance(topic, AlarmTopic)
    template.resource_count_is("AWS::SNS::Topic", 1)
    properties = alarm_properties(template)
    assert len(properties) == 3  # two alarms and the topic's failed-deliveries alarm
    own = stack.get_logical_id(topic.failed_deliveries_alarm.node.default_child)
    for name, routed in properties.items():
        assert routed["AlarmActions"] == [ref(topic.topic)]
        if name != own:
            assert routed["OKActions"] == [ref(topic.topic)]


def test_an_alarm_on_the_failed_deliveries_of_the_topic_it_notifies_gets_no_ok_action():
    # With a subscriber that keeps failing, each OK message would fail and send the alarm back to ALARM.
    stack = Stack(App(), "Service")
    alarm(stack, "Errors")
    route_alarms(stack)
    properties = alarm_properties(Template.from_stack(stack))  # the topic is made at synth
    topic = stack.node.find_child(ALARM_TOPIC_ID)
    own = properties[stack.get_logical_id(topic.failed_deliveries_alarm.node.default_child)]
    assert own["AlarmActions"] == [ref(topic.topic)] and "OKActions" not in own


def test_a_topics_failed_deliveries_alarm_routed_to_another_topic_keeps_its_ok_action():
    stack = Stack(App(), "Service")
    watched, pager = AlarmTopic(stack, "Watched"), AlarmTopic(stack, "Pager")
    route_alarms(watched, pager)
    properties = alarm_properties(Template.from_stack(stack))
    routed = properties[stack.get_logical_id(watched.failed_deliveries_alarm.node.default_child)]
    assert routed["OKActions"] == [ref(pager.topic)]


def test_a_stack_without_alarms_gets_no_topic():
    app = App()
    alarm(Stack(app, "Noisy"), "Errors")
    quiet = Stack(app, "Quiet")
    sns.Topic(quiet, "Events")
    route_alarms(app)
    app.synth()
    assert quiet.node.try_find_child(ALARM_TOPIC_ID) is None
    Template.from_stack(quiet).resource_count_is("AWS::SNS::Topic", 1)


@pytest.mark.parametrize("stabilized", [True, False])
def test_the_topic_made_while_aspects_run_is_synthesized_and_its_alarm_routed(stabilized):
    app = App(context={"@aws-cdk/core:aspectStabilization": stabilized})
    stack = Stack(app, "Service")
    alarm(stack, "Errors")
    route_alarms(app)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Topic", 1)
    assert all("AlarmActions" in p for p in alarm_properties(template).values())


def test_an_explicit_alarm_topic_receives_the_alarms():
    stack = Stack(App(), "Service")
    target = AlarmTopic(stack, "Pager")
    routed = alarm(stack, "Errors")
    route_alarms(stack, target)
    template = Template.from_stack(stack)
    assert alarm_properties(template)[stack.get_logical_id(routed.node.default_child)]["AlarmActions"] == [
        ref(target.topic)
    ]
    template.resource_count_is("AWS::SNS::Topic", 1)


def test_an_sns_topic_or_an_alarm_action_is_a_target():
    stack = Stack(App(), "Service")
    topic = sns.Topic(stack, "Plain")
    other = sns.Topic(stack, "Other")
    by_topic = alarm(Construct(stack, "ByTopic"), "Errors")
    by_action = alarm(Construct(stack, "ByAction"), "Errors")
    route_alarms(by_topic.node.scope, topic)
    route_alarms(by_action.node.scope, cloudwatch_actions.SnsAction(other))
    properties = alarm_properties(Template.from_stack(stack))
    assert properties[stack.get_logical_id(by_topic.node.default_child)]["AlarmActions"] == [ref(topic)]
    assert properties[stack.get_logical_id(by_action.node.default_child)]["AlarmActions"] == [ref(other)]


def test_the_nearest_scope_wins():
    app = App()
    stack = Stack(app, "Service")
    pager = AlarmTopic(stack, "Pager")
    payments = Construct(stack, "Payments")
    urgent = alarm(payments, "Errors")
    ordinary = alarm(stack, "Latency")
    route_alarms(app)
    route_alarms(payments, pager)
    properties = alarm_properties(Template.from_stack(stack))
    default_topic = stack.node.find_child(ALARM_TOPIC_ID)
    assert properties[stack.get_logical_id(urgent.node.default_child)]["AlarmActions"] == [ref(pager.topic)]
    assert properties[stack.get_logical_id(urgent.node.default_child)]["OKActions"] == [ref(pager.topic)]
    assert properties[stack.get_logical_id(ordinary.node.default_child)]["AlarmActions"] == [ref(default_topic.topic)]


def test_calling_it_again_on_a_scope_replaces_that_scopes_routing_and_adds_no_second_action():
    app = App()
    stack = Stack(app, "Service")
    alarm(stack, "Errors")
    first = route_alarms(app, ok_actions=True)
    again = route_alarms(app, ok_actions=False)
    assert again is first and [a for a in Aspects.of(app).all if isinstance(a, AlarmRouting)] == [first]
    for properties in alarm_properties(Template.from_stack(stack)).values():
        assert len(properties["AlarmActions"]) == 1 and "OKActions" not in properties


def test_an_alarm_with_its_own_action_is_left_as_its_author_set_it():
    stack = Stack(App(), "Service")
    own = sns.Topic(stack, "Own")
    kept = alarm(stack, "Errors")
    kept.add_alarm_action(cloudwatch_actions.SnsAction(own))
    route_alarms(stack)
    properties = alarm_properties(Template.from_stack(stack))[stack.get_logical_id(kept.node.default_child)]
    assert properties["AlarmActions"] == [ref(own)] and "OKActions" not in properties


def test_ok_actions_can_be_left_out_and_insufficient_data_is_never_routed():
    stack = Stack(App(), "Service")
    alarm(stack, "Errors")
    route_alarms(stack, ok_actions=False)
    for properties in alarm_properties(Template.from_stack(stack)).values():
        assert "AlarmActions" in properties
        assert "OKActions" not in properties and "InsufficientDataActions" not in properties


def test_an_l1_alarm_is_routed():
    stack = Stack(App(), "Service")
    l1_alarm(stack, "Raw")
    route_alarms(stack)
    template = Template.from_stack(stack)
    topic = stack.node.find_child(ALARM_TOPIC_ID).topic
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "Raw", "AlarmActions": [ref(topic)], "OKActions": [ref(topic)]}
    )


def test_a_composite_alarm_is_routed():
    stack = Stack(App(), "Service")
    cloudwatch.CompositeAlarm(
        stack, "Either", alarm_rule=cloudwatch.AlarmRule.any_of(alarm(stack, "First"), alarm(stack, "Second"))
    )
    route_alarms(stack)
    template = Template.from_stack(stack)
    topic = stack.node.find_child(ALARM_TOPIC_ID).topic
    template.has_resource_properties(
        "AWS::CloudWatch::CompositeAlarm",
        {"AlarmActions": [ref(topic)], "OKActions": [ref(topic)]},
    )


def test_an_alarm_in_a_nested_stack_uses_a_topic_of_the_nested_stack():
    parent = Stack(App(), "Parent", env=BOUND)
    nested = NestedStack(parent, "Nested")
    alarm(nested, "Errors")
    route_alarms(parent)
    nested_template = Template.from_stack(nested)
    topic = nested.node.find_child(ALARM_TOPIC_ID).topic
    for properties in alarm_properties(nested_template).values():
        assert properties["AlarmActions"] == [ref(topic)]
    assert parent.node.try_find_child(ALARM_TOPIC_ID) is None
    Template.from_stack(parent).resource_count_is("AWS::SNS::Topic", 0)


def test_route_alarms_on_the_app_reaches_the_stacks_of_its_stages():
    app = App()
    prod = Stage(app, "Prod", env=BOUND)
    stack = Stack(prod, "Service")
    alarm(stack, "Errors")
    route_alarms(app)
    template = Template.from_stack(stack)
    topic = stack.node.find_child(ALARM_TOPIC_ID).topic
    for properties in alarm_properties(template).values():
        assert properties["AlarmActions"] == [ref(topic)]


def test_a_stage_made_after_route_alarms_is_named_rather_than_left_silent():
    app = App()
    route_alarms(app)
    alarm(Stack(Stage(app, "Late"), "Service"), "Errors")
    with pytest.raises(RuntimeError, match="stage Late was created after the call"):
        app.synth()


def test_the_email_comes_from_context():
    app = App(context={ALARM_EMAIL_CONTEXT: "ops@example.com"})
    stack = Stack(app, "Service")
    alarm(stack, "Errors")
    route_alarms(app)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_the_email_comes_from_the_environment_variable_when_context_has_none(monkeypatch):
    monkeypatch.setenv(ALARM_EMAIL_ENVIRONMENT_VARIABLE, "oncall@example.com,ops@example.com")
    stack = Stack(App(), "Service")
    alarm(stack, "Errors")
    route_alarms(stack)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Subscription", 2)
    template.has_resource_properties("AWS::SNS::Subscription", {"Endpoint": "oncall@example.com"})


def test_context_wins_over_the_environment_variable(monkeypatch):
    monkeypatch.setenv(ALARM_EMAIL_ENVIRONMENT_VARIABLE, "env@example.com")
    stack = Stack(App(context={ALARM_EMAIL_CONTEXT: "context@example.com"}), "Service")
    alarm(stack, "Errors")
    route_alarms(stack)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Subscription", 1)
    template.has_resource_properties("AWS::SNS::Subscription", {"Endpoint": "context@example.com"})


@pytest.mark.parametrize(
    "target, message",
    [
        (f"arn:aws:sns:eu-west-1:{ACCOUNT}:alarms", "a string is not a target"),
        (object(), "expected an AlarmTopic, an sns.ITopic or a cloudwatch.IAlarmAction"),
    ],
)
def test_an_invalid_target_is_refused(target, message):
    with pytest.raises(TypeError, match=message):
        route_alarms(Stack(App(), "Service"), target)


def test_invalid_scope_or_ok_actions_are_refused():
    with pytest.raises(TypeError, match="scope: expected a construct"):
        route_alarms("app")
    with pytest.raises(TypeError, match="ok_actions: expected True or False"):
        route_alarms(Stack(App(), "Service"), ok_actions="yes")


def test_a_topic_of_another_environment_is_refused():
    app = App()
    pager = AlarmTopic(Stack(app, "Ireland", env=BOUND), "Pager")
    alarm(Stack(app, "Virginia", env=Environment(account=ACCOUNT, region="us-east-1")), "Errors")
    with pytest.raises(ValueError, match="cannot publish to topic Ireland/Pager"):
        route_alarms(app, pager)


def test_an_imported_topic_of_another_region_is_refused():
    stack = Stack(App(), "Virginia", env=Environment(account=ACCOUNT, region="us-east-1"))
    alarm(stack, "Errors")
    topic = sns.Topic.from_topic_arn(stack, "Pager", f"arn:aws:sns:eu-west-1:{ACCOUNT}:pager")
    with pytest.raises(ValueError, match="region us-east-1"):
        route_alarms(stack, topic)


def test_a_topic_of_the_same_environment_in_another_stack_is_referenced():
    app = App()
    pager = AlarmTopic(Stack(app, "Shared", env=BOUND), "Pager")
    service = Stack(app, "Service", env=BOUND)
    alarm(service, "Errors")
    route_alarms(service, pager)
    for properties in alarm_properties(Template.from_stack(service)).values():
        (action,) = properties["AlarmActions"]
        assert action["Fn::ImportValue"].startswith("Shared:ExportsOutputRefPagerEncryptedTopic")


# --- cdk-nag ------------------------------------------------------------------------------------


def every_alarm_source(stack: Stack) -> None:
    ApiLambdaTable(stack, "Items")
    FanoutQueue(stack, "Events").add_subscriber("Audit", idempotency_key_field="event_id")


@pytest.mark.parametrize(
    "env, context",
    [(BOUND, {}), (Environment(account="222222222222", region="cn-north-1"), {PARTITION_LITERALS: True})],
    ids=["account-and-region", "aws-cn"],
)
def test_routed_stacks_pass_the_nag_packs(tmp_path, env, context):
    app = nag_app(tmp_path)
    app.node.set_context(ALARM_EMAIL_CONTEXT, "ops@example.com")
    for key, value in context.items():
        app.node.set_context(key, value)
    stack = Stack(app, "Routed", env=env)
    if context:
        stack.node.set_context(
            POWERTOOLS_LAYER_CONTEXT, f"arn:aws-cn:lambda:cn-north-1:{env.account}:layer:Powertools:1"
        )
    every_alarm_source(stack)
    route_alarms(app)
    assert nag_findings(app)["violations"] == []
    assert stack.node.find_child(ALARM_TOPIC_ID).dead_letter_queue is not None  # the e-mail subscription's


def test_a_topic_made_without_an_address_warns_that_nobody_is_told():
    stack = Stack(App(), "Service")
    alarm(stack, "Errors")
    route_alarms(stack)
    Template.from_stack(stack)  # the topic is made at synth
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("nobody subscribes to"))
    assert len(warnings) == 1


def test_a_topic_made_with_an_address_does_not_warn():
    stack = Stack(App(context={"alarmEmail": "ops@example.com"}), "Service")
    alarm(stack, "Errors")
    route_alarms(stack)
    Template.from_stack(stack)
    assert Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("nobody subscribes to")) == []
