"""JSON Schema request models of the items API, bounded exactly as the bundled items handler checks."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw

_ITEM_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_NAME = apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, min_length=1, max_length=200)
_DESCRIPTION = apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, max_length=2000)
# The largest integer every JSON client represents exactly; the handler enforces the same bound.
_MAX_INTEGER = 2**53 - 1
_QUANTITY = apigw.JsonSchema(type=apigw.JsonSchemaType.INTEGER, minimum=0, maximum=_MAX_INTEGER)
CREATE_ITEM_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="CreateItem",
    type=apigw.JsonSchemaType.OBJECT,
    properties={
        "id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern=_ITEM_ID_PATTERN),
        "name": _NAME,
        "description": _DESCRIPTION,
        "quantity": _QUANTITY,
    },
    required=["name"],
    additional_properties=False,
)
REPLACE_ITEM_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="ReplaceItem",
    type=apigw.JsonSchemaType.OBJECT,
    properties={
        "name": _NAME,
        "description": _DESCRIPTION,
        "quantity": _QUANTITY,
        "version": apigw.JsonSchema(type=apigw.JsonSchemaType.INTEGER, minimum=1, maximum=_MAX_INTEGER),
    },
    required=["name", "version"],
    additional_properties=False,
)
