"""The canary pattern's default function: one proxy-shaped greeting, whoever calls it."""

from __future__ import annotations

import io
import json

import pytest
from handler_loader import load_handler
from lambda_context import LambdaContext


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hello")
    monkeypatch.delenv("GREETING", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_VERSION", raising=False)
    return monkeypatch


@pytest.fixture
def logs(monkeypatch):
    """Return a reader of the JSON log lines a loaded handler module writes during the test."""

    def capture(module) -> io.StringIO:
        stream = io.StringIO()
        monkeypatch.setattr(module.logger.registered_handler, "stream", stream)
        return stream

    return capture


def api_gateway_proxy_event() -> dict:
    """A REST API proxy integration event, as API Gateway sends it for ``GET /``."""
    return {
        "resource": "/",
        "path": "/",
        "httpMethod": "GET",
        "headers": {"Accept": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "root",
            "resourcePath": "/",
            "httpMethod": "GET",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "path": "/prod/",
            "accountId": "123456789012",
            "stage": "prod",
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "pytest"},
            "apiId": "abc123",
        },
        "body": None,
        "isBase64Encoded": False,
    }


def assert_greeting(response: dict, message: str, version: str) -> None:
    assert response == {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": message, "version": version}),
    }


def test_response_is_proxy_shaped_with_the_default_greeting_and_version(env):
    hello = load_handler("hello")
    response = hello.handler({}, LambdaContext())
    assert_greeting(response, "hello", "$LATEST")
    assert json.loads(response["body"]) == {"message": "hello", "version": "$LATEST"}


def test_greeting_comes_from_the_environment(env):
    env.setenv("GREETING", "bonjour")
    hello = load_handler("hello")
    assert json.loads(hello.handler({}, LambdaContext())["body"])["message"] == "bonjour"


def test_version_comes_from_the_runtime_environment(env):
    env.setenv("AWS_LAMBDA_FUNCTION_VERSION", "7")
    hello = load_handler("hello")
    assert json.loads(hello.handler({}, LambdaContext(function_version="7"))["body"])["version"] == "7"


def test_answers_an_api_gateway_proxy_event(env):
    env.setenv("GREETING", "hi")
    env.setenv("AWS_LAMBDA_FUNCTION_VERSION", "3")
    hello = load_handler("hello")
    assert_greeting(hello.handler(api_gateway_proxy_event(), LambdaContext()), "hi", "3")


def test_answers_the_canary_smoke_event_the_same_way_and_logs_it(env, logs):
    env.setenv("AWS_LAMBDA_FUNCTION_VERSION", "4")
    hello = load_handler("hello")
    stream = logs(hello)
    assert_greeting(hello.handler({"smoke": True}, LambdaContext()), "hello", "4")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["smoke_test"] for r in records] == [True]
    assert records[0]["function_name"] == "test-function"  # inject_lambda_context added the context


@pytest.mark.parametrize("event", [None, [], "smoke", {"smoke": "true"}, {"smoke": False}])
def test_any_other_event_gets_the_same_answer_and_is_not_logged_as_a_smoke_test(env, logs, event):
    hello = load_handler("hello")
    stream = logs(hello)
    assert_greeting(hello.handler(event, LambdaContext()), "hello", "$LATEST")
    assert [json.loads(line)["smoke_test"] for line in stream.getvalue().splitlines()] == [False]
