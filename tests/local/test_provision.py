"""Provisioning synthesized stacks on moto's server: what gets created, resolved and left out.

Most tests provision the demo app's ItemsServiceDemo (tables, queues, a topic with a filtered
subscription, a user pool, functions and both kinds of event source) and check the result through
moto's APIs; small hand-made templates cover what the demo stacks do not.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from patterns.local.assembly import load_assembly
from patterns.local.model import ACCOUNT, REGION, LocalEnvironment, LocalRunError, LocalStack, StackTemplate
from patterns.local.provision import LocalUser, parse_user, provision, resource_order

PASSWORD = "Str0ng-Passw0rd!"
ADA = LocalUser("ada@example.com", PASSWORD, ("admins",))


@pytest.fixture
def items_service(aws, demo_app) -> LocalStack:
    """ItemsServiceDemo provisioned on a fresh moto server, with one user."""
    environment = provision(load_assembly(demo_app.outdir, ["ItemsServiceDemo"]), aws, users=[ADA])
    return environment.stack("ItemsServiceDemo")


def _logical_id(stack: LocalStack, resource_type: str, contains: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id, resource in stack.template["Resources"].items()
        if resource["Type"] == resource_type and contains in logical_id
    ]
    return logical_id


def _queue_url(stack: LocalStack, contains: str) -> str:
    return stack.refs[_logical_id(stack, "AWS::SQS::Queue", contains)]


def _receive_all(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return messages.get("Messages", [])


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# -- the demo stack ----------------------------------------------------------------------------------


def test_tables_are_created_with_keys_and_streams(items_service):
    dynamodb = boto3.client("dynamodb")
    items_table = items_service.refs[_logical_id(items_service, "AWS::DynamoDB::Table", "ItemsTable")]

    items = dynamodb.describe_table(TableName=items_table)["Table"]
    assert items_table == f"ItemsServiceDemo-{_logical_id(items_service, 'AWS::DynamoDB::Table', 'ItemsTable')}"
    assert items["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert items["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    items_id = _logical_id(items_service, "AWS::DynamoDB::Table", "ItemsTable")
    assert items_service.attributes[(items_id, "StreamArn")] == items["LatestStreamArn"]
    assert items_service.attributes[(items_id, "Arn")] == items["TableArn"]


def test_tables_get_their_time_to_live(aws, demo_app):
    jobs = provision(load_assembly(demo_app.outdir, ["ScheduledJobDemo"]), aws).stack("ScheduledJobDemo")
    claims = jobs.refs[_logical_id(jobs, "AWS::DynamoDB::Table", "Claims")]
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=claims)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_queues_redrive_to_their_dead_letter_queues(items_service):
    sqs = boto3.client("sqs")
    for consumer in ("Audit", "Notifier"):
        inbox = _queue_url(items_service, f"{consumer}InboxQueue")
        dead_letters = _queue_url(items_service, f"{consumer}InboxDeadLetterQueue")
        attributes = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["All"])["Attributes"]
        dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

        assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": 5}
        assert attributes["VisibilityTimeout"] == "180"
        assert attributes["MessageRetentionPeriod"] == "345600"


def test_the_topic_delivers_to_queues_honouring_the_filter_policy(items_service):
    topic_arn = items_service.refs[_logical_id(items_service, "AWS::SNS::Topic", "ItemEvents")]
    sns = boto3.client("sns")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert len(subscriptions) == 2

    for event_type in ("item.created", "item.deleted"):
        sns.publish(
            TopicArn=topic_arn,
            Message=json.dumps({"type": event_type}),
            MessageAttributes={"event_type": {"DataType": "String", "StringValue": event_type}},
        )

    audit = [
        json.loads(message["Body"])["type"] for message in _receive_all(_queue_url(items_service, "AuditInboxQueue"))
    ]
    notifier = [
        json.loads(message["Body"])["type"] for message in _receive_all(_queue_url(items_service, "NotifierInboxQueue"))
    ]
    assert sorted(audit) == ["item.created", "item.deleted"]  # raw delivery: the body is the message itself
    assert notifier == ["item.deleted"]


def test_the_user_pool_has_its_client_scopes_and_groups_and_users_can_sign_in(items_service):
    pool_logical_id = _logical_id(items_service, "AWS::Cognito::UserPool", "")
    client_logical_id = _logical_id(items_service, "AWS::Cognito::UserPoolClient", "")
    pool = items_service.user_pools[pool_logical_id]
    cognito = boto3.client("cognito-idp")

    assert pool.pool_id == items_service.refs[pool_logical_id]
    assert pool.arn == items_service.attributes[(pool_logical_id, "Arn")]
    assert sorted(pool.groups) == ["admins", "readers"]
    assert sorted(pool.scopes) == ["items/read", "items/write"]
    client_id = pool.client_ids[client_logical_id]
    client = cognito.describe_user_pool_client(UserPoolId=pool.pool_id, ClientId=client_id)["UserPoolClient"]
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email", "items/read", "items/write"}
    assert "ALLOW_ADMIN_USER_PASSWORD_AUTH" in client["ExplicitAuthFlows"]
    assert any("MFA (MfaConfiguration ON) is not enforced locally" in line for line in items_service.skipped)

    signed_in = cognito.admin_initiate_auth(
        UserPoolId=pool.pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": ADA.username, "PASSWORD": PASSWORD},
    )
    assert _claims(signed_in["AuthenticationResult"]["AccessToken"])["cognito:groups"] == ["admins"]
    assert _claims(signed_in["AuthenticationResult"]["IdToken"])["email"] == ADA.username


def test_functions_get_their_code_settings_and_resolved_environment(items_service, demo_app):
    functions = {function.logical_id: function for function in items_service.functions.values()}
    items_function = functions[_logical_id(items_service, "AWS::Lambda::Function", "ItemsFunctionHandler")]
    bridge = functions[_logical_id(items_service, "AWS::Lambda::Function", "ChangesBridge")]
    smoke_test = functions[_logical_id(items_service, "AWS::Lambda::Function", "SmokeTest")]
    items_table = items_service.refs[_logical_id(items_service, "AWS::DynamoDB::Table", "ItemsTable")]
    topic_arn = items_service.refs[_logical_id(items_service, "AWS::SNS::Topic", "ItemEvents")]

    assert items_function.name == f"ItemsServiceDemo-{items_function.logical_id}"
    assert items_function.arn == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{items_function.name}"
    assert items_function.code_dir.parent == demo_app.outdir and (items_function.code_dir / "app.py").is_file()
    assert (items_function.handler, items_function.runtime) == ("app.handler", "python3.14")
    assert (items_function.timeout_seconds, items_function.memory_mb) == (10, 256)
    assert items_function.environment["TABLE_NAME"] == items_table
    assert bridge.environment["TOPIC_ARN"] == topic_arn
    # The smoke test targets the version: a qualified ARN that still names the function.
    assert smoke_test.environment["TARGET_FUNCTION_ARN"] == f"{items_function.arn}:1"
    assert all(not function.unresolved for function in functions.values())
    alias_logical_id = _logical_id(items_service, "AWS::Lambda::Alias", "")
    assert items_service.refs[alias_logical_id] == f"{items_function.arn}:live"


def test_event_sources_describe_the_mappings(items_service):
    sources = {source.logical_id: source for source in items_service.event_sources}
    stream_source = sources[_logical_id(items_service, "AWS::Lambda::EventSourceMapping", "StreamSource")]
    audit_source = sources[_logical_id(items_service, "AWS::Lambda::EventSourceMapping", "AuditInbox")]
    items_table = _logical_id(items_service, "AWS::DynamoDB::Table", "ItemsTable")
    failed_records = _logical_id(items_service, "AWS::SQS::Queue", "FailedRecords")

    assert len(sources) == 3
    assert stream_source.kind == "dynamodb"
    assert stream_source.function.logical_id == _logical_id(items_service, "AWS::Lambda::Function", "ChangesBridge")
    assert stream_source.stream_arn == items_service.attributes[(items_table, "StreamArn")]
    assert (stream_source.batch_size, stream_source.starting_position) == (100, "TRIM_HORIZON")
    assert stream_source.report_batch_item_failures and stream_source.bisect_on_error
    assert stream_source.maximum_retry_attempts == 3
    assert stream_source.on_failure_arn == items_service.attributes[(failed_records, "Arn")]
    assert audit_source.kind == "sqs"
    assert audit_source.queue_url == _queue_url(items_service, "AuditInboxQueue")
    assert (audit_source.batch_size, audit_source.report_batch_item_failures) == (10, True)
    assert audit_source.maximum_retry_attempts is None and audit_source.enabled


def test_resources_not_created_get_stable_references_and_a_reason(items_service):
    rest_api = _logical_id(items_service, "AWS::ApiGateway::RestApi", "")
    stage = _logical_id(items_service, "AWS::ApiGateway::Stage", "")
    key = _logical_id(items_service, "AWS::KMS::Key", "ItemEventsKey")

    assert items_service.refs[rest_api] == rest_api
    assert items_service.attributes[(rest_api, "RootResourceId")] not in items_service.template["Resources"]
    assert items_service.refs[stage] == "prod"
    assert items_service.attributes[(key, "Arn")].endswith(f":key/{items_service.refs[key]}")
    assert f"{key} (AWS::KMS::Key): encryption is not applied locally" in items_service.skipped
    assert not any("AWS::ApiGateway::Method" in line for line in items_service.skipped)  # served by the gateway


def test_provisioning_again_reuses_what_exists(aws, demo_app, items_service):
    again = provision(load_assembly(demo_app.outdir, ["ItemsServiceDemo"]), aws, users=[ADA]).stack("ItemsServiceDemo")

    assert again.refs == items_service.refs
    assert again.attributes == items_service.attributes
    assert len(boto3.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]) == 1
    topic_arn = items_service.refs[_logical_id(items_service, "AWS::SNS::Topic", "ItemEvents")]
    assert len(boto3.client("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]) == 2


def test_every_demo_stack_provisions(aws, demo_app):
    environment = provision(load_assembly(demo_app.outdir), aws, users=[ADA])

    assert [stack.name for stack in environment.stacks] == [stack.name for stack in load_assembly(demo_app.outdir)]
    # The API Gateway account-setting stacks (one per environment: env-agnostic, and each region of the global demo)
    assert all(stack.functions for stack in environment.stacks if not stack.name.startswith("ApiGatewayAccountLogging"))
    settings = environment.stack("ApiGatewayAccountLogging")  # only a role and API Gateway's account setting
    assert sorted(line.split(" ", 1)[1] for line in settings.skipped) == [
        "(AWS::ApiGateway::Account): not needed locally",
        "(AWS::IAM::Role): permissions are not enforced locally",
    ]
    first = next(stack for stack in environment.stacks if stack.functions)
    assert environment.function_for_arn(next(iter(first.functions.values())).arn + ":live")


def test_credentials_come_from_the_run_not_the_environment(aws, demo_app, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-REAL-LOOKING")

    environment = provision(load_assembly(demo_app.outdir, ["BuildingBlocksDemo"]), aws)

    assert environment.stack("BuildingBlocksDemo").event_sources


# -- hand-made templates -----------------------------------------------------------------------------


def _function(code_dir: str | None, environment: dict[str, Any], **properties: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Handler": "app.handler",
            "Runtime": "python3.12",
            "Environment": {"Variables": environment},
            **properties,
        },
    }
    if code_dir:
        resource["Metadata"] = {"aws:asset:path": code_dir}
    return resource


def _provision_template(
    endpoint: str, assembly_dir: Path, resources: dict[str, Any], **template: Any
) -> LocalEnvironment:
    stack = StackTemplate(name="Handmade", template={"Resources": resources, **template}, assembly_dir=assembly_dir)
    return provision([stack], endpoint)


def test_unresolvable_environment_variables_are_reported_not_fatal(aws, tmp_path):
    (tmp_path / "asset.code").mkdir()
    environment = _provision_template(
        aws,
        tmp_path,
        {
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                },
            },
            "Fn": _function(
                "asset.code",
                {
                    "TABLE_NAME": {"Ref": "Table"},
                    "SHARED_BUS": {"Fn::ImportValue": "SharedBusArn"},
                    "RETRIES": 3,
                },
            ),
        },
    )

    function = environment.stack("Handmade").functions["Fn"]
    assert function.environment == {"TABLE_NAME": "Handmade-Table", "RETRIES": "3"}
    assert "Fn::ImportValue is not supported" in function.unresolved["SHARED_BUS"]
    assert (function.timeout_seconds, function.memory_mb, function.code_dir) == (3, 128, tmp_path / "asset.code")


def test_a_table_needing_an_import_stops_the_run(aws, tmp_path):
    with pytest.raises(LocalRunError, match=r"stack Handmade: Orders \(AWS::DynamoDB::Table\).*Fn::ImportValue"):
        _provision_template(
            aws,
            tmp_path,
            {
                "Orders": {
                    "Type": "AWS::DynamoDB::Table",
                    "Properties": {
                        "TableName": {"Fn::ImportValue": "OrdersTableName"},
                        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    },
                },
            },
        )


def test_other_unresolvable_resources_are_left_out_with_a_reason(aws, tmp_path):
    (tmp_path / "asset.code").mkdir()
    environment = _provision_template(
        aws,
        tmp_path,
        {
            "Fn": _function("asset.code", {}),
            "Mapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "EventSourceArn": {"Fn::ImportValue": "SharedQueueArn"},
                },
            },
            "Cluster": {"Type": "AWS::MSK::Cluster", "Properties": {"ClusterName": "c"}},
            "KafkaMapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "EventSourceArn": f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/c/1",
                },
            },
            "Topic": {"Type": "AWS::SNS::Topic"},
            "ToFunction": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "lambda",
                    "Endpoint": {"Fn::GetAtt": ["Fn", "Arn"]},
                },
            },
        },
    )

    stack = environment.stack("Handmade")
    assert not stack.event_sources
    assert any(
        line.startswith("Mapping (AWS::Lambda::EventSourceMapping): left out") and "ImportValue" in line
        for line in stack.skipped
    )
    assert "Cluster (AWS::MSK::Cluster): not created locally" in stack.skipped
    assert (
        "KafkaMapping (AWS::Lambda::EventSourceMapping): left out: kafka event sources are not polled locally"
        in stack.skipped
    )
    assert (
        "ToFunction (AWS::SNS::Subscription): left out: only SQS subscriptions are delivered locally, not lambda"
        in stack.skipped
    )
    assert not boto3.client("sns").list_subscriptions()["Subscriptions"]


def test_conditions_parameters_and_inline_code(aws, tmp_path):
    inline = "def handler(event, context):\n    return event\n"
    environment = _provision_template(
        aws,
        tmp_path,
        {
            "Audit": {"Type": "AWS::SQS::Queue", "Condition": "IsProduction"},
            "Echo": _function(None, {"STAGE": {"Ref": "Stage"}}, Handler="index.handler", Code={"ZipFile": inline}),
        },
        Parameters={"Stage": {"Type": "String", "Default": "dev"}},
        Conditions={"IsProduction": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
    )

    stack = environment.stack("Handmade")
    assert "Audit (AWS::SQS::Queue): its condition IsProduction is false" in stack.skipped
    assert not boto3.client("sqs").list_queues().get("QueueUrls")
    echo = stack.functions["Echo"]
    assert echo.environment == {"STAGE": "dev"}
    assert (echo.code_dir / "index.py").read_text() == inline


def test_fifo_queues_and_topics_keep_their_suffix(aws, tmp_path):
    environment = _provision_template(
        aws,
        tmp_path,
        {
            "Orders": {"Type": "AWS::SNS::Topic", "Properties": {"FifoTopic": True, "ContentBasedDeduplication": True}},
            "Inbox": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True, "ContentBasedDeduplication": True}},
        },
    )

    stack = environment.stack("Handmade")
    assert stack.attributes[("Orders", "TopicName")] == "Handmade-Orders.fifo"
    assert stack.attributes[("Inbox", "QueueName")] == "Handmade-Inbox.fifo"
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=stack.refs["Inbox"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert (attributes["FifoQueue"], attributes["ContentBasedDeduplication"]) == ("true", "true")


def test_global_tables_are_created_like_tables(aws, tmp_path):
    environment = _provision_template(
        aws,
        tmp_path,
        {
            "Orders": {
                "Type": "AWS::DynamoDB::GlobalTable",
                "Properties": {
                    "TableName": "orders",
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                        {"AttributeName": "status", "AttributeType": "S"},
                    ],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "byStatus",
                            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                            "WriteProvisionedThroughputSettings": {
                                "WriteCapacityAutoScalingSettings": {"MinCapacity": 1, "MaxCapacity": 10}
                            },
                        }
                    ],
                    "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                    "Replicas": [{"Region": REGION}],
                },
            },
        },
    )

    table = boto3.client("dynamodb").describe_table(TableName="orders")["Table"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["byStatus"]
    assert environment.stack("Handmade").attributes[("Orders", "StreamArn")] == table["LatestStreamArn"]


def test_long_names_are_shortened_deterministically(aws, tmp_path):
    (tmp_path / "asset.code").mkdir()
    logical_id = "Handler" + "X" * 80
    first = _provision_template(aws, tmp_path, {logical_id: _function("asset.code", {})})
    second = _provision_template(aws, tmp_path, {logical_id: _function("asset.code", {})})

    name = first.stack("Handmade").functions[logical_id].name
    assert len(name) == 64 and name.startswith("Handmade-HandlerXXX")
    assert second.stack("Handmade").functions[logical_id].name == name


def test_user_problems_are_reported(aws, demo_app):
    stacks = load_assembly(demo_app.outdir, ["ItemsServiceDemo"])

    with pytest.raises(LocalRunError, match=r"no user pool of this run has group.*auditors"):
        provision(stacks, aws, users=[LocalUser("ada@example.com", PASSWORD, ("auditors",))])
    with pytest.raises(LocalRunError, match=r"user ada@example\.com in user pool ItemsServiceDemo/.*password"):
        provision(stacks, aws, users=[LocalUser("ada@example.com", "short")])


def test_resources_are_ordered_by_their_references():
    resources = {
        "Consumer": {"Type": "T", "Properties": {"Url": {"Fn::Sub": "${Queue.Arn}/${!Literal}${AWS::Region}"}}},
        "Alarm": {"Type": "T", "DependsOn": "Consumer"},
        "Queue": {"Type": "T", "Properties": {"Key": {"Fn::GetAtt": ["Key", "Arn"]}}},
        "Key": {"Type": "T"},
        "Unrelated": {"Type": "T", "Properties": {"Name": {"Ref": "AWS::StackName"}}},
    }

    assert resource_order(resources) == ["Key", "Queue", "Consumer", "Alarm", "Unrelated"]
    with pytest.raises(LocalRunError, match="cycle: A, B"):
        resource_order({"A": {"Type": "T", "DependsOn": ["B"]}, "B": {"Type": "T", "Properties": {"X": {"Ref": "A"}}}})


# -- --user --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ada@example.com:Str0ng-Passw0rd!", LocalUser("ada@example.com", "Str0ng-Passw0rd!")),
        ("ada@example.com:Str0ng-Passw0rd!:admins", LocalUser("ada@example.com", "Str0ng-Passw0rd!", ("admins",))),
        ("ada@example.com:pw:admins, readers", LocalUser("ada@example.com", "pw", ("admins", "readers"))),
        ("ada@example.com:pa:ss:", LocalUser("ada@example.com", "pa:ss")),
    ],
)
def test_parse_user(text, expected):
    assert parse_user(text) == expected


@pytest.mark.parametrize(
    "text", ["ada@example.com", "ada@example.com:", ":secret-pw", "ada@example.com:secret-pw:admins,,x"]
)
def test_parse_user_rejects_bad_text_without_echoing_the_password(text):
    with pytest.raises(ValueError, match="bad user") as raised:
        parse_user(text)
    assert "secret-pw" not in str(raised.value)
