"""DynamoDB tables (and global tables) created on the local endpoint, streams and TTL included."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .provision_stack import Resource, StackProvisionerBase, error_code, flag

# Service limit on physical names.
_TABLE_NAME_LIMIT = 255


class DynamoDbProvisioner(StackProvisionerBase):
    """Creates a stack's DynamoDB tables."""

    def _table(self, resource: Resource) -> None:
        name = resource.prop("TableName") or self._physical_name(resource.logical_id, _TABLE_NAME_LIMIT)
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": resource.required("KeySchema"),
            "AttributeDefinitions": resource.required("AttributeDefinitions"),
            "BillingMode": "PAY_PER_REQUEST",  # capacity does not matter locally
        }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = resource.prop(index_kind, [])
            if indexes:
                request[index_kind] = [_index(index) for index in indexes]
        stream_view = (resource.prop("StreamSpecification") or {}).get("StreamViewType")
        if stream_view:
            request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream_view}
        dynamodb = self.run.clients("dynamodb")
        try:
            table = dynamodb.create_table(**request)["TableDescription"]
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":
                raise
            table = dynamodb.describe_table(TableName=name)["Table"]  # reused as it is
        else:
            ttl = resource.prop("TimeToLiveSpecification")
            if ttl and flag(ttl.get("Enabled")):
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
        self._record(resource.logical_id, name, Arn=table["TableArn"], StreamArn=table.get("LatestStreamArn"))


def _index(index: dict[str, Any]) -> dict[str, Any]:
    """A secondary index as CreateTable takes it: throughput and contributor insights do not apply locally."""
    return {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
