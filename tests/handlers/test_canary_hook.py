"""The CodeDeploy canary hook: smoke-test the new version once, report Succeeded or Failed once.

moto (5.2.5) can serve neither of the two calls this function makes: invoking a Lambda function
needs Docker, and its CodeDeploy PutLifecycleEventHookExecutionStatus answers HTTP 500 (see
/work/shared/FACTS.md). So exactly those two calls are stubbed, with botocore's ``Stubber`` on the
module's own clients, which checks every request (and every canned response) against the real API
model. The ``aws`` fixture still points the clients at moto on 127.0.0.1, so any other, unstubbed
call would reach moto over HTTP, never the internet. The timeout tests do not stub ``invoke``:
one makes botocore's send step raise ``ReadTimeoutError``, the other lets the client really wait on
a loopback socket that never answers, so the configured read timeout and retry policy are exercised.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from handler_loader import load_handler
from lambda_context import LambdaContext

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:hello:7"
SECRET = "s3cr3t-probe"  # in the payload and in responses; must never reach the logs
PAYLOAD = json.dumps({"smoke": True, "probe": SECRET})
EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "eyJlbmNyeXB0ZWREYXRhIjoi"}
REPORT = "put_lifecycle_event_hook_execution_status"


@dataclass
class Hook:
    module: object
    invoke: Stubber  # on module.lambda_client
    report: Stubber  # on module.codedeploy
    log_stream: io.StringIO
    calls: list[str]  # every API operation the module's clients were asked for, stubbed or not

    def run(self, event=EVENT):
        return self.module.handler(event, LambdaContext(function_name="canary-hook"))

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in self.log_stream.getvalue().splitlines()]

    def log_text(self) -> str:
        return self.log_stream.getvalue()

    def assert_all_stubs_used(self) -> None:
        self.invoke.assert_no_pending_responses()
        self.report.assert_no_pending_responses()


@pytest.fixture
def hook_env(aws, monkeypatch):
    """The hook's environment; tests change it before calling ``make_hook``."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "canary-hook")
    monkeypatch.setenv("TARGET_FUNCTION_ARN", TARGET)
    monkeypatch.setenv("SMOKE_PAYLOAD", PAYLOAD)
    for name in ("EXPECTED_STATUS_CODE", "INVOKE_TIMEOUT_SECONDS", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def make_hook(hook_env, monkeypatch) -> Iterator:
    """Load the hook afresh, its clients stubbed (unless told otherwise) and its logs captured."""
    stubbers: list[Stubber] = []

    def make(stub_invoke: bool = True, **env: str) -> Hook:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        module = load_handler("canary_hook")
        calls: list[str] = []
        for client in (module.lambda_client, module.codedeploy):
            # provide-client-params is emitted for every call, before the Stubber's own checks.
            client.meta.events.register("provide-client-params.*.*", lambda model, **_: calls.append(model.name))
        invoke, report = Stubber(module.lambda_client), Stubber(module.codedeploy)
        report.activate()
        stubbers.append(report)
        if stub_invoke:
            invoke.activate()
            stubbers.append(invoke)
        stream = io.StringIO()
        monkeypatch.setattr(module.logger.registered_handler, "stream", stream)
        return Hook(module=module, invoke=invoke, report=report, log_stream=stream, calls=calls)

    yield make
    for stubber in stubbers:
        stubber.deactivate()


def invoke_response(body: bytes | str, function_error: str | None = None) -> dict:
    raw = body.encode() if isinstance(body, str) else body
    response = {"StatusCode": 200, "ExecutedVersion": "7", "Payload": StreamingBody(io.BytesIO(raw), len(raw))}
    if function_error:
        response["FunctionError"] = function_error
    return response


def expect_invoke(hook: Hook, response: dict) -> None:
    hook.invoke.add_response(
        "invoke",
        response,
        expected_params={"FunctionName": TARGET, "InvocationType": "RequestResponse", "Payload": PAYLOAD.encode()},
    )


def expect_report(hook: Hook, status: str) -> None:
    hook.report.add_response(
        REPORT,
        {"lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"]},
        expected_params={
            "deploymentId": EVENT["DeploymentId"],
            "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
            "status": status,
        },
    )


def proxy_body(status_code) -> str:
    return json.dumps({"statusCode": status_code, "headers": {}, "body": json.dumps({"message": SECRET})})


def failure_reasons(hook: Hook) -> list[str]:
    return [r["reason"] for r in hook.logs() if r["level"] == "ERROR" and "reason" in r]


# --- the new version passes ---------------------------------------------------------------------


def test_success_invokes_the_target_with_the_payload_then_reports_succeeded(make_hook):
    hook = make_hook(EXPECTED_STATUS_CODE="200")
    expect_invoke(hook, invoke_response(proxy_body(200)))
    expect_report(hook, "Succeeded")
    assert hook.run() == {"status": "Succeeded"}
    hook.assert_all_stubs_used()
    assert hook.calls == ["Invoke", "PutLifecycleEventHookExecutionStatus"]
    assert failure_reasons(hook) == []


def test_without_an_expected_status_code_any_non_error_response_passes(make_hook):
    hook = make_hook()
    expect_invoke(hook, invoke_response(b"not json at all"))
    expect_report(hook, "Succeeded")
    assert hook.run() == {"status": "Succeeded"}
    hook.assert_all_stubs_used()


def test_logs_are_json_with_the_deployment_and_sizes_but_never_the_payloads(make_hook):
    hook = make_hook(EXPECTED_STATUS_CODE="200")
    body = proxy_body(200)
    expect_invoke(hook, invoke_response(body))
    expect_report(hook, "Succeeded")
    hook.run()
    records = hook.logs()
    assert {r["deployment_id"] for r in records} == {EVENT["DeploymentId"]}
    assert any(r.get("payload_bytes") == len(PAYLOAD.encode()) for r in records)
    assert any(r.get("response_bytes") == len(body.encode()) for r in records)
    assert SECRET not in hook.log_text()


# --- the new version fails ----------------------------------------------------------------------


def test_an_unhandled_error_in_the_new_version_reports_failed(make_hook):
    hook = make_hook()
    error = json.dumps({"errorMessage": SECRET, "errorType": "KeyError", "stackTrace": []})
    expect_invoke(hook, invoke_response(error, function_error="Unhandled"))
    expect_report(hook, "Failed")
    assert hook.run() == {"status": "Failed"}
    hook.assert_all_stubs_used()
    assert failure_reasons(hook) == ["target returned a function error (Unhandled)"]
    assert SECRET not in hook.log_text()


def test_a_new_version_that_times_out_reports_failed(make_hook):
    hook = make_hook(EXPECTED_STATUS_CODE="200")
    timed_out = json.dumps({"errorMessage": "2026-11-22T21:00:00.000Z abc Task timed out after 3.00 seconds"})
    expect_invoke(hook, invoke_response(timed_out, function_error="Unhandled"))
    expect_report(hook, "Failed")
    assert hook.run() == {"status": "Failed"}
    hook.assert_all_stubs_used()
    assert failure_reasons(hook) == ["target returned a function error (Unhandled)"]


def test_a_wrong_status_code_reports_failed(make_hook):
    hook = make_hook(EXPECTED_STATUS_CODE="200")
    expect_invoke(hook, invoke_response(proxy_body(500)))
    expect_report(hook, "Failed")
    assert hook.run() == {"status": "Failed"}
    hook.assert_all_stubs_used()
    assert failure_reasons(hook) == ["response statusCode is not the expected 200"]
    assert SECRET not in hook.log_text()


@pytest.mark.parametrize(
    "body", ["{}", json.dumps({"statusCode": "200"}), json.dumps({"statusCode": True}), "[200]", "null"]
)
def test_a_response_without_an_integer_status_code_reports_failed(make_hook, body):
    hook = make_hook(EXPECTED_STATUS_CODE="200")
    expect_invoke(hook, invoke_response(body))
    expect_report(hook, "Failed")
    assert hook.run() == {"status": "Failed"}
    hook.assert_all_stubs_used()


@pytest.mark.parametrize("body", [b"", b"<html>ok</html>", b"\xff\xfe{"])
def test_a_non_json_response_with_an_expected_status_code_reports_failed(make_hook, body):
    hook = make_hook(EXPECTED_STATUS_CODE="200")
    expect_invoke(hook, invoke_response(body))
    expect_report(hook, "Failed")
    assert hook.run() == {"status": "Failed"}
    hook.assert_all_stubs_used()
    assert failure_reasons(hook) == ["response is not JSON"]


def test_an_invoke_the_service_rejects_reports_failed(make_hook):
    hook = make_hook()
    hook.invoke.add_client_error(
        "invoke",
        service_error_code="ResourceNotFoundException",
        service_message="Function not found",
        http_status_code=404,
    )
    expect_report(hook, "Failed")
    assert hook.run() == {"status": "Failed"}
    hook.assert_all_stubs_used()
    assert failure_reasons(hook) == ["invoke failed: ResourceNotFoundException: Function not found"]


def test_an_invoke_that_raises_read_timeout_reports_failed_after_one_attempt(make_hook):
    hook = make_hook(stub_invoke=False)
    sent = []

    def read_timeout(request, **_):
        sent.append(request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    # Raised where the HTTP request would go out, so botocore's retry handling sees it as a real timeout.
    hook.module.lambda_client.meta.events.register("before-send.lambda.Invoke", read_timeout)
    expect_report(hook, "Failed")
    assert hook.run() == {"status": "Failed"}
    hook.assert_all_stubs_used()
    assert len(sent) == 1, "a timed-out invoke must not be retried"
    (reason,) = failure_reasons(hook)
    assert reason.startswith("invoke failed: ReadTimeoutError")


def test_a_hanging_version_fails_the_check_within_the_configured_read_timeout(make_hook):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # connections are queued by the kernel and never answered
        port = silent.getsockname()[1]
        hook = make_hook(
            stub_invoke=False, INVOKE_TIMEOUT_SECONDS="0.2", AWS_ENDPOINT_URL_LAMBDA=f"http://127.0.0.1:{port}"
        )
        attempts = []
        hook.module.lambda_client.meta.events.register("before-send.lambda.Invoke", lambda **_: attempts.append(1))
        expect_report(hook, "Failed")
        assert hook.run() == {"status": "Failed"}
    hook.assert_all_stubs_used()
    assert attempts == [1]
    (reason,) = failure_reasons(hook)
    assert reason.startswith("invoke failed: ReadTimeoutError")


# --- configuration --------------------------------------------------------------------------------


def test_lambda_client_has_a_30_second_read_timeout_and_no_retries_by_default(make_hook):
    config = make_hook().module.lambda_client.meta.config
    assert config.read_timeout == 30
    assert config.retries["total_max_attempts"] == 1


def test_invoke_timeout_comes_from_the_environment(make_hook):
    assert make_hook(INVOKE_TIMEOUT_SECONDS="12.5").module.lambda_client.meta.config.read_timeout == 12.5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TARGET_FUNCTION_ARN", None, "TARGET_FUNCTION_ARN is required"),
        ("TARGET_FUNCTION_ARN", "  ", "TARGET_FUNCTION_ARN is required"),
        ("SMOKE_PAYLOAD", None, "SMOKE_PAYLOAD is required"),
        ("SMOKE_PAYLOAD", "{" + SECRET, "SMOKE_PAYLOAD must be JSON"),
        ("SMOKE_PAYLOAD", "smoke=true", "SMOKE_PAYLOAD must be JSON"),
        ("EXPECTED_STATUS_CODE", "OK", "EXPECTED_STATUS_CODE must be an integer"),
        ("EXPECTED_STATUS_CODE", "2000", "EXPECTED_STATUS_CODE must be an HTTP status code"),
        ("INVOKE_TIMEOUT_SECONDS", "soon", "INVOKE_TIMEOUT_SECONDS must be a number"),
        ("INVOKE_TIMEOUT_SECONDS", "0", "INVOKE_TIMEOUT_SECONDS must be above 0"),
        ("INVOKE_TIMEOUT_SECONDS", "nan", "INVOKE_TIMEOUT_SECONDS must be above 0"),
    ],
)
def test_module_refuses_to_load_with_a_missing_or_invalid_setting(hook_env, name, value, message):
    if value is None:
        hook_env.delenv(name)
    else:
        hook_env.setenv(name, value)
    with pytest.raises(ValueError, match=message) as raised:
        load_handler("canary_hook")
    assert SECRET not in str(raised.value)


# --- events that cannot be reported, and reports that fail ----------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "d-ABCDEF123",
        {},
        {"DeploymentId": EVENT["DeploymentId"]},
        {"LifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"]},
        {"DeploymentId": "", "LifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"]},
        {"DeploymentId": EVENT["DeploymentId"], "LifecycleEventHookExecutionId": " "},
        {"DeploymentId": 123, "LifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"]},
        {"DeploymentId": EVENT["DeploymentId"], "LifecycleEventHookExecutionId": 456},
        {"DeploymentId": None, "LifecycleEventHookExecutionId": None},
    ],
)
def test_a_malformed_event_raises_and_reports_nothing(make_hook, event):
    hook = make_hook()  # nothing queued: any call would raise the Stubber's UnStubbedResponseError instead
    with pytest.raises(ValueError, match="CodeDeploy hook event"):
        hook.run(event)
    assert hook.calls == []
    assert [r["message"] for r in hook.logs() if r["level"] == "ERROR"] == [
        "malformed CodeDeploy hook event, nothing to report against"
    ]


def test_a_failed_report_is_logged_and_propagates(make_hook):
    hook = make_hook()
    expect_invoke(hook, invoke_response(proxy_body(200)))
    hook.report.add_client_error(
        REPORT, service_error_code="LifecycleEventAlreadyCompletedException", http_status_code=400
    )
    with pytest.raises(ClientError) as raised:
        hook.run()
    assert raised.value.response["Error"]["Code"] == "LifecycleEventAlreadyCompletedException"
    hook.assert_all_stubs_used()
    assert hook.calls == ["Invoke", "PutLifecycleEventHookExecutionStatus"]
    errors = [r for r in hook.logs() if r["level"] == "ERROR"]
    assert [r["message"] for r in errors] == ["could not report the hook status; CodeDeploy will time the hook out"]
    assert errors[0]["status"] == "Succeeded"


def test_a_warm_instance_does_not_carry_one_deployment_into_the_next_event(make_hook):
    hook = make_hook()
    expect_invoke(hook, invoke_response(proxy_body(200)))
    expect_report(hook, "Succeeded")
    hook.run()
    with pytest.raises(ValueError):
        hook.run({})
    last = hook.logs()[-1]
    assert last["message"] == "malformed CodeDeploy hook event, nothing to report against"
    assert "deployment_id" not in last
