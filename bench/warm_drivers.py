"""How to drive each bundled handler warm, and the raw call (or no-op) it is compared with.

A driver knows one ``lambda_src/<function>``: the resources it needs in moto, the event of one
typical invocation, the check that the invocation took the happy path (so error paths are never
what gets timed), and the raw boto3 call(s) that invocation wraps. Every boto3 client here and in
the handler talks to moto on 127.0.0.1 (``AWS_ENDPOINT_URL``), except the calls a driver lists in
``stubbed``, which botocore's ``Stubber`` answers in-process.
"""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The tests' stand-in for Lambda's context object serves the benchmark too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from lambda_context import LambdaContext


@dataclass
class Workload:
    """``prepare(i)`` builds the arguments (untimed), ``run(args)`` is timed, ``check(result)`` is not."""

    prepare: Callable[[int], Any]
    run: Callable[[Any], Any]
    check: Callable[[Any], None]


class Driver:
    request: str = ""  # the invocation measured
    raw: str = ""  # what it is compared with
    stubbed: tuple[str, ...] = ()  # calls answered by botocore's Stubber instead of moto
    messages_per_invocation: int = 1  # records in the event of one invocation
    single_write: bool = False  # its effect is one DynamoDB item write: targets apply (1 request per message)

    def setup(self, prefix: str) -> dict[str, str]:
        """Create what the handler needs in moto; return the environment pointing at it."""
        return {}

    def handler_workload(self, module) -> Workload:
        raise NotImplementedError

    def raw_workload(self) -> Workload:
        raise NotImplementedError


def _client(service: str):
    import boto3

    return boto3.client(service)


def _create_table(name: str, key: str = "id") -> None:
    _client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _expect(condition: bool, what: str, result: Any) -> None:
    if not condition:
        raise AssertionError(f"{what}; got {str(result)[:300]}")


def _no_batch_failures(result: Any) -> None:
    _expect(result == {"batchItemFailures": []}, "expected no batchItemFailures", result)


def _sqs_event(body: str) -> dict:
    """A one-record batch as Lambda's SQS event source mapping delivers it."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB" + uuid.uuid4().hex,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1794000000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1794000000001",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-queue",
                "awsRegion": "us-east-1",
            }
        ]
    }


# --- hello: no AWS call -----------------------------------------------------------------------------


class Hello(Driver):
    request = "direct invoke {'smoke': true}"
    raw = "empty Python function call"

    def handler_workload(self, module) -> Workload:
        def check(result):
            _expect(result.get("statusCode") == 200, "expected statusCode 200", result)

        return Workload(
            prepare=lambda i: ({"smoke": True}, LambdaContext(function_name="hello")),
            run=lambda args: module.handler(*args),
            check=check,
        )

    def raw_workload(self) -> Workload:
        def empty(event, context):
            return None

        return Workload(
            prepare=lambda i: ({"smoke": True}, LambdaContext(function_name="hello")),
            run=lambda args: empty(*args),
            check=lambda result: None,
        )


# --- items_api: GET /items/{id} -------------------------------------------------------------------

ITEM_ID = "bench-item"


def _api_event(method: str, path: str, resource: str, path_parameters: dict | None) -> dict:
    """An API Gateway REST API (v1) proxy event, as the ``prod`` stage sends it."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json", "Host": "api.example.com"},
        "multiValueHeaders": {"Accept": ["application/json"], "Host": ["api.example.com"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": "api.example.com",
            "httpMethod": method,
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": 1794000000000,
            "resourceId": "res123",
            "resourcePath": resource,
            "stage": "prod",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "bench"},
        },
    }


class ItemsApi(Driver):
    request = "GET /items/{id} (REST proxy event)"
    raw = "dynamodb.get_item (ConsistentRead)"

    def setup(self, prefix: str) -> dict[str, str]:
        self.table = f"{prefix}-items"
        _create_table(self.table, "id")
        _client("dynamodb").put_item(
            TableName=self.table,
            Item={
                "id": {"S": ITEM_ID},
                "name": {"S": "widget"},
                "description": {"S": "a widget for the benchmark"},
                "quantity": {"N": "3"},
                "version": {"N": "1"},
                "created_at": {"S": "2026-11-22T21:00:00.000Z"},
                "updated_at": {"S": "2026-11-22T21:00:00.000Z"},
            },
        )
        return {"TABLE_NAME": self.table, "PARTITION_KEY": "id"}

    def handler_workload(self, module) -> Workload:
        def check(result):
            _expect(
                result.get("statusCode") == 200 and ITEM_ID in (result.get("body") or ""),
                "expected 200 with the item",
                result,
            )

        return Workload(
            prepare=lambda i: (
                _api_event("GET", f"/items/{ITEM_ID}", "/items/{id}", {"id": ITEM_ID}),
                LambdaContext(function_name="items-api"),
            ),
            run=lambda args: module.handler(*args),
            check=check,
        )

    def raw_workload(self) -> Workload:
        client = _client("dynamodb")
        return Workload(
            prepare=lambda i: {"TableName": self.table, "Key": {"id": {"S": ITEM_ID}}, "ConsistentRead": True},
            run=lambda kwargs: client.get_item(**kwargs),
            check=lambda result: _expect("Item" in result, "expected the item", result),
        )


# --- event_recorder: one-record SQS batch -> PutItem ------------------------------------------------


class EventRecorder(Driver):
    request = "1-record SQS batch"
    raw = "dynamodb.put_item (conditional)"
    single_write = True

    def setup(self, prefix: str) -> dict[str, str]:
        self.table = f"{prefix}-records"
        _create_table(self.table)
        return {"TABLE_NAME": self.table}

    @staticmethod
    def body(i: int) -> str:
        return json.dumps({"id": f"evt-{i}", "type": "order.created", "amount": 42})

    def handler_workload(self, module) -> Workload:
        return Workload(
            prepare=lambda i: (_sqs_event(self.body(i)), LambdaContext(function_name="recorder")),
            run=lambda args: module.handler(*args),
            check=_no_batch_failures,
        )

    def raw_workload(self) -> Workload:
        client = _client("dynamodb")
        return Workload(
            prepare=lambda i: {
                "TableName": self.table,
                "Item": {"id": {"S": f"evt-{i}"}, "event": {"S": self.body(i)}, "message_id": {"S": str(uuid.uuid4())}},
                "ConditionExpression": "attribute_not_exists(id)",
            },
            run=lambda kwargs: client.put_item(**kwargs),
            check=lambda result: None,
        )


# --- fanout_consumer: one-record SQS batch -> one conditional PutItem (the idempotency guard) -------


class FanoutConsumer(Driver):
    request = "1-record SQS batch (new key each time)"
    raw = "dynamodb.put_item (conditional)"
    single_write = True

    def setup(self, prefix: str) -> dict[str, str]:
        self.table = f"{prefix}-processed"
        self.idempotency_table = f"{prefix}-idempotency"
        _create_table(self.table)
        _create_table(self.idempotency_table)  # FanoutQueue still makes and names it; the consumer never calls it
        self.prefix = prefix
        return {
            "TABLE_NAME": self.table,
            "IDEMPOTENCY_TABLE_NAME": self.idempotency_table,
            "IDEMPOTENCY_KEY_FIELD": "event_id",
            "IDEMPOTENCY_TTL_SECONDS": "3600",
        }

    def body(self, i: int) -> str:
        return json.dumps(
            {
                "event_id": f"{self.prefix}-event-{i}",
                "order_id": f"order-{i}",
                "event_type": "order.created",
                "amount": 42,
            }
        )

    def handler_workload(self, module) -> Workload:
        return Workload(
            prepare=lambda i: (_sqs_event(self.body(i)), LambdaContext(function_name="consumer")),
            run=lambda args: module.handler(*args),
            check=_no_batch_failures,
        )

    def raw_workload(self) -> Workload:
        client = _client("dynamodb")
        return Workload(
            prepare=lambda i: {
                "TableName": self.table,
                "Item": {
                    "id": {"S": f"{self.prefix}-order-{i}"},
                    "message_id": {"S": str(uuid.uuid4())},
                    "body": {"S": self.body(i)},
                    "processed_at": {"S": "2026-11-22T21:00:00+00:00"},
                },
                "ConditionExpression": "attribute_not_exists(id)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
            run=lambda kwargs: client.put_item(**kwargs),
            check=lambda result: None,
        )


# --- stream_publisher: one-record stream batch -> sns.publish ----------------------------------------


class StreamPublisher(Driver):
    request = "1-record DynamoDB stream batch (INSERT)"
    raw = "sns.publish"

    def setup(self, prefix: str) -> dict[str, str]:
        self.topic_arn = _client("sns").create_topic(Name=f"{prefix}-changes")["TopicArn"]
        return {"TOPIC_ARN": self.topic_arn}

    @staticmethod
    def new_image(i: int) -> dict:
        return {
            "id": {"S": f"item-{i}"},
            "name": {"S": "widget"},
            "quantity": {"N": "3"},
            "version": {"N": "1"},
            "tags": {"SS": ["blue", "small"]},
        }

    def record(self, i: int) -> dict:
        image = self.new_image(i)
        change = {
            "ApproximateCreationDateTime": 1794000000.0 + i,
            "Keys": {"id": image["id"]},
            "NewImage": image,
            "SequenceNumber": str(4421584500000000017450439091 + 100 * i),
            "SizeBytes": 120,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        return {
            "eventID": uuid.uuid4().hex,
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": change,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/items/stream/2026-11-01T00:00:00.000",
        }

    def handler_workload(self, module) -> Workload:
        return Workload(
            prepare=lambda i: ({"Records": [self.record(i)]}, LambdaContext(function_name="stream-publisher")),
            run=lambda args: module.handler(*args),
            check=_no_batch_failures,
        )

    def raw_workload(self) -> Workload:
        client = _client("sns")

        def prepare(i):
            body = json.dumps(
                {
                    "event_id": uuid.uuid4().hex,
                    "event_type": "item.created",
                    "keys": {"id": f"item-{i}"},
                    "new": {
                        "id": f"item-{i}",
                        "name": "widget",
                        "quantity": 3,
                        "version": 1,
                        "tags": ["blue", "small"],
                    },
                    "old": None,
                    "sequence_number": str(4421584500000000017450439091 + 100 * i),
                    "approximate_creation_time": "2026-11-06T21:20:00.000Z",
                },
                separators=(",", ":"),
            )
            return {
                "TopicArn": self.topic_arn,
                "Message": body,
                "MessageAttributes": {"event_type": {"DataType": "String", "StringValue": "item.created"}},
            }

        return Workload(
            prepare=prepare,
            run=lambda kwargs: client.publish(**kwargs),
            check=lambda result: _expect("MessageId" in result, "expected a MessageId", result),
        )


# --- canary_hook: lambda.invoke + codedeploy status, both stubbed -----------------------------------

TARGET_ARN = "arn:aws:lambda:us-east-1:123456789012:function:items:7"
REPORT = "put_lifecycle_event_hook_execution_status"
PROXY_RESPONSE = json.dumps({"statusCode": 200, "headers": {}, "body": json.dumps({"items": [], "next_token": None})})


def _queue_stub_responses(invoke_stub, report_stub, execution_id: str) -> None:
    from botocore.response import StreamingBody

    raw = PROXY_RESPONSE.encode()
    invoke_stub.add_response(
        "invoke", {"StatusCode": 200, "ExecutedVersion": "7", "Payload": StreamingBody(io.BytesIO(raw), len(raw))}
    )
    report_stub.add_response(REPORT, {"lifecycleEventHookExecutionId": execution_id})


class CanaryHook(Driver):
    request = "CodeDeploy hook event (invoke + report)"
    raw = "lambda.invoke + codedeploy hook status"
    stubbed = ("lambda:Invoke", "codedeploy:PutLifecycleEventHookExecutionStatus")

    def setup(self, prefix: str) -> dict[str, str]:
        return {"TARGET_FUNCTION_ARN": TARGET_ARN, "EXPECTED_STATUS_CODE": "200"}

    @staticmethod
    def _event(i: int) -> dict:
        return {"DeploymentId": f"d-BENCH{i:05d}", "LifecycleEventHookExecutionId": f"bench-execution-{i}"}

    def _stubbers(self, lambda_client, codedeploy_client):
        from botocore.stub import Stubber

        invoke_stub, report_stub = Stubber(lambda_client), Stubber(codedeploy_client)
        invoke_stub.activate()
        report_stub.activate()
        return invoke_stub, report_stub

    def handler_workload(self, module) -> Workload:
        invoke_stub, report_stub = self._stubbers(module.lambda_client, module.codedeploy)

        def prepare(i):
            event = self._event(i)
            _queue_stub_responses(invoke_stub, report_stub, event["LifecycleEventHookExecutionId"])
            return event, LambdaContext(function_name="canary-hook")

        def check(result):
            _expect(result == {"status": "Succeeded"}, "expected Succeeded", result)
            invoke_stub.assert_no_pending_responses()
            report_stub.assert_no_pending_responses()

        return Workload(prepare=prepare, run=lambda args: module.handler(*args), check=check)

    def raw_workload(self) -> Workload:
        import os

        lambda_client, codedeploy = _client("lambda"), _client("codedeploy")
        invoke_stub, report_stub = self._stubbers(lambda_client, codedeploy)
        payload = os.environ.get("SMOKE_PAYLOAD", "{}").encode()

        def prepare(i):
            event = self._event(i)
            _queue_stub_responses(invoke_stub, report_stub, event["LifecycleEventHookExecutionId"])
            return event

        def run(event):
            response = lambda_client.invoke(FunctionName=TARGET_ARN, InvocationType="RequestResponse", Payload=payload)
            response["Payload"].read()
            return codedeploy.put_lifecycle_event_hook_execution_status(
                deploymentId=event["DeploymentId"],
                lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
                status="Succeeded",
            )

        def check(result):
            invoke_stub.assert_no_pending_responses()
            report_stub.assert_no_pending_responses()

        return Workload(prepare=prepare, run=run, check=check)


DRIVERS: dict[str, type[Driver]] = {
    "hello": Hello,
    "items_api": ItemsApi,
    "event_recorder": EventRecorder,
    "fanout_consumer": FanoutConsumer,
    "stream_publisher": StreamPublisher,
    "canary_hook": CanaryHook,
}
