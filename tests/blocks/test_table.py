"""SecureTable: on-demand, PITR, encryption, keys, indexes, streams, TTL, retention, alarms, bad props."""

from __future__ import annotations

import re

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from patterns.blocks import SecureTable

STRING = dynamodb.AttributeType.STRING
NUMBER = dynamodb.AttributeType.NUMBER


def new_stack() -> Stack:
    return Stack(App(), "Test")


def synth(**props) -> Template:
    stack = new_stack()
    SecureTable(stack, "Items", **props)
    return Template.from_stack(stack)


def attribute(name: str, type: dynamodb.AttributeType = STRING) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=type)


def index(name: str, key: str, **props) -> dynamodb.GlobalSecondaryIndexProps:
    return dynamodb.GlobalSecondaryIndexProps(
        index_name=name, partition_key=dynamodb.Attribute(name=key, type=STRING), **props
    )


@pytest.fixture(scope="module")
def default() -> Template:
    return synth()


# --- defaults -----------------------------------------------------------------------------------


def test_makes_one_table(default):
    default.resource_count_is("AWS::DynamoDB::Table", 1)


def test_billing_is_on_demand(default):
    default.has_resource_properties("AWS::DynamoDB::Table", {"BillingMode": "PAY_PER_REQUEST"})


def test_point_in_time_recovery_is_on(default):
    default.has_resource_properties(
        "AWS::DynamoDB::Table", {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
    )


def test_encrypted_with_the_aws_managed_key_by_default(default):
    default.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"SSESpecification": {"SSEEnabled": True, "SSEType": Match.absent(), "KMSMasterKeyId": Match.absent()}},
    )
    default.resource_count_is("AWS::KMS::Key", 0)


def test_partition_key_defaults_to_string_id(default):
    default.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        },
    )


def test_no_stream_ttl_or_index_by_default(default):
    default.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "StreamSpecification": Match.absent(),
            "TimeToLiveSpecification": Match.absent(),
            "GlobalSecondaryIndexes": Match.absent(),
        },
    )


def test_table_is_retained_when_the_stack_goes(default):
    default.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_deletion_protection_is_off_by_default(default):
    default.has_resource_properties("AWS::DynamoDB::Table", {"DeletionProtectionEnabled": False})


# --- options ------------------------------------------------------------------------------------


def test_a_customer_managed_key_encrypts_the_table():
    stack = new_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    SecureTable(stack, "Items", encryption_key=key)
    Template.from_stack(stack).has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": {"Fn::GetAtt": [stack.get_logical_id(key.node.default_child), "Arn"]},
            }
        },
    )


def test_partition_and_sort_keys_can_be_chosen():
    template = synth(
        partition_key=dynamodb.Attribute(name="pk", type=STRING),
        sort_key=dynamodb.Attribute(name="created", type=NUMBER),
    )
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "created", "KeyType": "RANGE"}],
            "AttributeDefinitions": Match.array_with(
                [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "created", "AttributeType": "N"}]
            ),
        },
    )


def test_global_secondary_indexes_are_added_as_given():
    template = synth(
        global_secondary_indexes=[
            index("byOwner", "owner"),
            index(
                "byStatus",
                "status",
                sort_key=dynamodb.Attribute(name="updated", type=NUMBER),
                projection_type=dynamodb.ProjectionType.INCLUDE,
                non_key_attributes=["title"],
            ),
        ]
    )
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "byOwner",
                    "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "byStatus",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "updated", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]},
                },
            ]
        },
    )


def test_index_on_demand_throughput_limits_are_kept():
    template = synth(global_secondary_indexes=[index("byOwner", "owner", max_read_request_units=100)])
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"GlobalSecondaryIndexes": [Match.object_like({"OnDemandThroughput": {"MaxReadRequestUnits": 100}})]},
    )


def test_index_with_multi_attribute_partition_key_is_accepted():
    template = synth(
        global_secondary_indexes=[
            dynamodb.GlobalSecondaryIndexProps(
                index_name="byTenantAndOwner",
                partition_keys=[
                    dynamodb.Attribute(name="tenant", type=STRING),
                    dynamodb.Attribute(name="owner", type=STRING),
                ],
            )
        ]
    )
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"GlobalSecondaryIndexes": [Match.object_like({"IndexName": "byTenantAndOwner"})]},
    )


def test_stream_emits_the_chosen_view():
    template = synth(stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES)
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"}}
    )


def test_time_to_live_attribute_is_enabled():
    template = synth(time_to_live_attribute="expires_at")
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}}
    )


def test_removal_policy_destroy_deletes_the_table():
    template = synth(removal_policy=RemovalPolicy.DESTROY)
    template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})


def test_deletion_protection_can_be_turned_on():
    template = synth(deletion_protection=True)
    template.has_resource_properties("AWS::DynamoDB::Table", {"DeletionProtectionEnabled": True})


# --- alarms -------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["ThrottledRequests", "SystemErrors"])
def test_alarms_on_table_metrics_over_every_item_and_query_operation(default, metric):
    alarms = default.find_resources(
        "AWS::CloudWatch::Alarm",
        {
            "Properties": {
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "Metrics": Match.array_with(
                    [
                        Match.object_like(
                            {"MetricStat": Match.object_like({"Metric": Match.object_like({"MetricName": metric})})}
                        )
                    ]
                ),
            }
        },
    )
    assert len(alarms) == 1
    (alarm,) = alarms.values()
    operations = {
        dimension["Value"]
        for query in alarm["Properties"]["Metrics"]
        if "MetricStat" in query
        for dimension in query["MetricStat"]["Metric"]["Dimensions"]
        if dimension["Name"] == "Operation"
    }
    assert operations == {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"}


def test_alarms_lists_every_alarm_it_made():
    table = SecureTable(new_stack(), "Items")
    assert table.alarms == [table.throttles_alarm, table.system_errors_alarm]
    Template.from_stack(Stack.of(table)).resource_count_is("AWS::CloudWatch::Alarm", 2)


# --- props validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"partition_key": attribute("")}, "partition_key needs a non-empty attribute name"),
        ({"partition_key": attribute("  ")}, "partition_key needs a non-empty attribute name"),
        ({"sort_key": attribute("")}, "sort_key needs a non-empty attribute name"),
        ({"sort_key": attribute("id", NUMBER)}, "sort_key and partition_key must differ, both are 'id'"),
        (
            {"global_secondary_indexes": [index("byOwner", "owner"), index("byOwner", "other")]},
            "global secondary index names must be unique",
        ),
        ({"time_to_live_attribute": ""}, "time_to_live_attribute must be a non-empty attribute name"),
        ({"time_to_live_attribute": "   "}, "time_to_live_attribute must be a non-empty attribute name"),
    ],
)
def test_invalid_props_raise_a_clear_value_error(props, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SecureTable(new_stack(), "Items", **props)
