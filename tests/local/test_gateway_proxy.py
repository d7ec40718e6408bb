"""The local API Gateway's Lambda proxy integration: the event the function gets, its response, errors and timeouts."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from gateway_stack import ACCOUNT, FakeInvoke, reply, request

from patterns.local.gateway import ApiServer
from patterns.local.model import Invocation, LocalFunction

# -- the proxy event and response ------------------------------------------------------------------


def test_proxy_event_has_the_rest_api_v1_shape(server: ApiServer, invoke: FakeInvoke) -> None:
    request(
        server,
        "POST",
        "/files/a?tag=x&tag=y&one=1",
        {"Content-Type": "text/plain", "User-Agent": "tests"},
        "héllo".encode(),
    )
    request(server, "POST", "/files/b", {"Content-Type": "image/png"}, b"\x89PNG\x00")

    text, binary = invoke.events()
    assert text["body"] == "héllo" and text["isBase64Encoded"] is False
    assert text["queryStringParameters"] == {"tag": "y", "one": "1"}
    assert text["multiValueQueryStringParameters"] == {"tag": ["x", "y"], "one": ["1"]}
    assert text["headers"]["User-Agent"] == "tests" and text["multiValueHeaders"]["Content-Type"] == ["text/plain"]
    assert text["headers"]["X-Forwarded-Proto"] == "http" and text["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert text["stageVariables"] == {"color": "blue"}
    context = text["requestContext"]
    assert {key: context[key] for key in ("accountId", "apiId", "stage", "httpMethod", "resourceId", "protocol")} == {
        "accountId": ACCOUNT,
        "apiId": "a1b2c3d4e5",
        "stage": "prod",
        "httpMethod": "POST",
        "resourceId": "filesproxy-id",
        "protocol": "HTTP/1.1",
    }
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["userAgent"] == "tests"
    assert context["requestId"] and context["extendedRequestId"] and context["requestTimeEpoch"] > 0
    assert "authorizer" not in context
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\x89PNG\x00"
    assert binary["queryStringParameters"] is None and binary["pathParameters"] == {"proxy": "b"}


def test_proxy_response_maps_status_headers_multi_value_headers_and_base64(
    server: ApiServer, invoke: FakeInvoke
) -> None:
    png = base64.b64encode(b"\x89PNG-bytes").decode()
    invoke.answer = lambda function, event: reply(
        201,
        png,
        isBase64Encoded=True,
        headers={"Content-Type": "image/png", "X-One": "1", "Set-Cookie": "ignored=1"},
        multiValueHeaders={"Set-Cookie": ["a=1", "b=2"]},
    )

    status, headers, body = request(server, "GET", "/files/x.png", {"Accept": "image/png"})
    assert (status, body) == (201, b"\x89PNG-bytes")
    assert headers["X-One"] == "1" and headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    # Without a binary Accept type API Gateway passes the base64 text through, as here.
    assert request(server, "GET", "/files/x.png", {"Accept": "application/json"})[2] == png.encode()

    invoke.answer = lambda function, event: Invocation("r", payload={"statusCode": 200, "body": '{"ok": true}'})
    status, headers, body = request(server, "GET", "/files/x")
    assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", {"ok": True})


@pytest.mark.parametrize(
    "invocation",
    [
        Invocation("r", error={"errorType": "KeyError", "errorMessage": "'id'", "stackTrace": []}),
        Invocation(
            "r",
            error={"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 10.00 seconds"},
            timed_out=True,
        ),
        Invocation("r", payload="just a string"),
        Invocation("r", payload={"statusCode": 200, "body": {"not": "a string"}}),
        Invocation("r", payload={"statusCode": 200, "body": "{}", "extra": 1}),
        Invocation("r", payload={"body": "{}"}),
    ],
    ids=["error", "function-timeout", "not-an-object", "body-object", "extra-field", "no-status"],
)
def test_function_errors_and_malformed_responses_are_502(
    server: ApiServer, invoke: FakeInvoke, lines: list[str], invocation: Invocation
) -> None:
    invoke.answer = lambda function, event: invocation
    status, _, body = request(server, "GET", "/files/x")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    assert "-> 502" in lines[-1] and "Fn r" in lines[-1]


def test_integration_timeout_is_504(server: ApiServer, invoke: FakeInvoke) -> None:
    release = threading.Event()

    def slow(function: LocalFunction, event: dict) -> Invocation:
        release.wait(5)
        return reply(200, "{}")

    invoke.answer = slow
    started = time.monotonic()
    status, _, body = request(server, "GET", "/slow")
    release.set()
    assert (status, json.loads(body)) == (504, {"message": "Endpoint request timed out"})
    assert time.monotonic() - started < 2
