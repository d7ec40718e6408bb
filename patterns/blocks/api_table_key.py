"""The partition key of a DynamoDB table of this app, read from the construct."""

from __future__ import annotations

from typing import cast

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def known_partition_key(table: dynamodb.ITable) -> dynamodb.Attribute | None:
    """The partition key of a ``dynamodb.Table`` or ``TableV2`` of this app; None for any other table."""
    if isinstance(table, dynamodb.Table):
        return table.schema_v2().partition_keys[0]
    if isinstance(table, dynamodb.TableV2):
        # TableV2 offers no schema(): read the key from its CloudFormation resource, which a
        # TableV2 always makes as its default child.
        cfn, stack = cast(dynamodb.CfnGlobalTable, table.node.default_child), Stack.of(table)
        (name,) = [key["attributeName"] for key in stack.resolve(cfn.key_schema) if key["keyType"] == "HASH"]
        types = {item["attributeName"]: item["attributeType"] for item in stack.resolve(cfn.attribute_definitions)}
        return dynamodb.Attribute(name=name, type=_ATTRIBUTE_TYPES[types[name]])
    return None
