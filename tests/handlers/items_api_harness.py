"""Calling the items API handler in tests.

The handler is loaded against a table on moto's server; REST API (v1) proxy events go in, replies
and the table's items come out.
"""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
from handler_loader import load_handler
from lambda_context import LambdaContext

TABLE = "items"
PK = "pk"  # not the API's "id", so the tests see the mapping between the two


@dataclass
class Api:
    module: ModuleType
    logs: io.StringIO


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    raw_body: str | None


def create_table(partition_key: str) -> None:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": partition_key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": partition_key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def load_api(monkeypatch) -> Api:
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "items-api")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ServerlessPatterns")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    module = load_handler("items_api")
    # Powertools keeps one stream handler per service for the process; read this test's lines from a buffer.
    logs = io.StringIO()
    monkeypatch.setattr(module.logger.registered_handler, "stream", logs)
    return Api(module=module, logs=logs)


def api_event(
    method: str,
    path: str,
    body: str | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict:
    """An API Gateway REST API (v1) proxy event, as the `prod` stage sends it."""
    if path == "/items":
        resource, path_parameters = "/items", None
    elif re.fullmatch(r"/items/[^/]+", path):
        resource, path_parameters = "/items/{id}", {"id": path.split("/")[2]}
    else:
        resource, path_parameters = "/{proxy+}", {"proxy": path.lstrip("/")}
    if body is not None and base64_body:
        body = base64.b64encode(body.encode()).decode()
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json", "Content-Type": "application/json", "Host": "api.example.com"},
        "multiValueHeaders": {"Accept": ["application/json"], "Content-Type": ["application/json"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": base64_body,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": "api.example.com",
            "httpMethod": method,
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTimeEpoch": 1700000000000,
            "resourceId": "res123",
            "resourcePath": resource,
            "stage": "prod",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "pytest"},
        },
    }


def invoke(api: Api, event: dict, context: LambdaContext | None = None) -> Reply:
    response = api.module.handler(event, context or LambdaContext(function_name="items-api"))
    headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    raw = response.get("body")
    return Reply(status=response["statusCode"], headers=headers, body=json.loads(raw) if raw else None, raw_body=raw)


def call(api: Api, method: str, path: str, body: Any = None, **kwargs) -> Reply:
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    return invoke(api, api_event(method, path, body=body, **kwargs))


def create(api: Api, **fields) -> dict:
    reply = call(api, "POST", "/items", {"name": "widget", **fields})
    assert reply.status == 201, reply.body
    return reply.body


def raw_table() -> list[dict]:
    """Every item as DynamoDB holds it, read with a client of the test's own."""
    client = boto3.client("dynamodb")
    items, request = [], {"TableName": TABLE}
    while True:
        page = client.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def token_for(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
