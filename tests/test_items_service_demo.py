"""ItemsServiceDemo: the four patterns wired as one service (checked on the synthesized template)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def template(demo_app) -> dict:
    return demo_app.template("ItemsServiceDemo")


def resources(template: dict, type_: str, prefix: str = "") -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_ and k.startswith(prefix)}


def only(template: dict, type_: str, prefix: str = "") -> tuple[str, dict]:
    (item,) = resources(template, type_, prefix).items()
    return item


def test_every_api_method_goes_through_the_canary_alias_behind_cognito(template):
    alias_id, _ = only(template, "AWS::Lambda::Alias")
    authorizer_id, authorizer = only(template, "AWS::ApiGateway::Authorizer")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    methods = resources(template, "AWS::ApiGateway::Method")
    assert len(methods) == 5
    for method in methods.values():
        props = method["Properties"]
        assert {"Ref": alias_id} in props["Integration"]["Uri"]["Fn::Join"][1]
        assert props["AuthorizerId"] == {"Ref": authorizer_id}
        assert props["AuthorizationScopes"] == (["items/read"] if props["HttpMethod"] == "GET" else ["items/write"])


def test_the_alias_is_deployed_by_codedeploy_with_a_smoke_test(template):
    _, alias = only(template, "AWS::Lambda::Alias")
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert "BeforeAllowTrafficHook" in update


def test_the_items_function_knows_its_table_and_its_admin_group(template):
    table_id, _ = only(template, "AWS::DynamoDB::Table", "ItemsTable")
    _, function = only(template, "AWS::Lambda::Function", "ItemsFunctionHandler")
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == {"Ref": table_id}
    assert variables["ADMIN_GROUP"] == "admins"


def test_the_table_stream_feeds_the_bridge(template):
    table_id, table = only(template, "AWS::DynamoDB::Table", "ItemsTable")
    assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    bridge_id, _ = only(template, "AWS::Lambda::Function", "ChangesBridge")
    _, mapping = only(template, "AWS::Lambda::EventSourceMapping", "ChangesStreamSource")
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert mapping["Properties"]["FunctionName"] == {"Ref": bridge_id}
    assert mapping["Properties"]["BisectBatchOnFunctionError"] is True
    assert "OnFailure" in mapping["Properties"]["DestinationConfig"]


def test_the_bridge_publishes_to_the_fanout_topic(template):
    topic_id, _ = only(template, "AWS::SNS::Topic", "ItemEvents")
    _, bridge = only(template, "AWS::Lambda::Function", "ChangesBridge")
    assert bridge["Properties"]["Environment"]["Variables"]["TOPIC_ARN"] == {"Ref": topic_id}


def test_audit_gets_every_event_and_the_notifier_only_deletions(template):
    topic_id, _ = only(template, "AWS::SNS::Topic", "ItemEvents")
    subscriptions = resources(template, "AWS::SNS::Subscription")
    assert len(subscriptions) == 2
    by_queue = {}
    for subscription in subscriptions.values():
        props = subscription["Properties"]
        assert props["TopicArn"] == {"Ref": topic_id}
        assert props["RawMessageDelivery"] is True
        by_queue[props["Endpoint"]["Fn::GetAtt"][0]] = props.get("FilterPolicy")
    audit = next(k for k in by_queue if k.startswith("ItemEventsAudit"))
    notifier = next(k for k in by_queue if k.startswith("ItemEventsNotifier"))
    assert by_queue[audit] is None
    assert by_queue[notifier] == {"event_type": ["item.deleted"]}


def test_both_subscribers_are_idempotent_on_the_event_id(template):
    for prefix in ("ItemEventsAuditConsumer", "ItemEventsNotifierConsumer"):
        _, function = only(template, "AWS::Lambda::Function", prefix)
        assert function["Properties"]["Environment"]["Variables"]["IDEMPOTENCY_KEY_FIELD"] == "event_id"
