"""CodeDeploy pre-/post-traffic hook for Lambda deployments: smoke-test the new version, report the result.

CodeDeploy invokes this function with ``{"DeploymentId": "d-...", "LifecycleEventHookExecutionId": "..."}``.
It invokes the new version once, synchronously, with a fixed payload, and reports ``Succeeded`` or
``Failed`` for that hook execution, exactly once. ``Failed`` makes CodeDeploy stop the deployment and
roll the alias back. The check fails when the invoke raises (including a read timeout or a connection
error), when the response carries ``FunctionError`` (an unhandled exception, "Task timed out", ...),
or, when ``EXPECTED_STATUS_CODE`` is set, when the response is not a JSON object whose ``statusCode``
equals it.

An event that is not such a CodeDeploy event cannot be reported (there is no hook execution to report
against): it is logged and the invocation fails with ``ValueError``; CodeDeploy then times the hook out
and rolls back. If reporting itself fails, the error is logged and propagates, with the same outcome.
Logs are Powertools JSON and never hold the smoke payload or the response, only their sizes.

Environment:
    ``TARGET_FUNCTION_ARN`` (required): version-qualified ARN of the new version to test
        (``arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION``).
    ``SMOKE_PAYLOAD`` (required): JSON text, sent as is as the invocation's event.
    ``EXPECTED_STATUS_CODE`` (optional): an HTTP status code the response's ``statusCode`` must equal.
    ``INVOKE_TIMEOUT_SECONDS`` (optional, default 30): read timeout of the invoke, so a hanging version
        fails the check instead of hanging the hook. Keep this function's own timeout above it.
    Powertools' ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_LOG_LEVEL``.

IAM actions:
    ``lambda:InvokeFunction`` on ``TARGET_FUNCTION_ARN`` (the target version);
    ``codedeploy:PutLifecycleEventHookExecutionStatus``: CanaryFunction grants it on ``*``. The
        Service Authorization Reference lists no resource type for it; AccessDenied messages name
        the deployment group (``...:deploymentgroup:APP/GROUP``), so a grant on that ARN most likely
        works as well.
"""

from __future__ import annotations

import json
import math
import os
import random
from typing import Any

import botocore.session
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError

logger = Logger()

DEFAULT_INVOKE_TIMEOUT_SECONDS = 30.0
MAX_INVOKE_TIMEOUT_SECONDS = 900.0  # a Lambda function runs 15 minutes at most


def _required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ValueError(f"environment variable {name} is required and must not be empty")
    return value


def _smoke_payload() -> bytes:
    text = _required_env("SMOKE_PAYLOAD")
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        # The message names the position only, never the payload's contents.
        raise ValueError(
            f"environment variable SMOKE_PAYLOAD must be JSON text: {error.msg} at position {error.pos}"
        ) from None
    return text.encode("utf-8")


def _expected_status_code() -> int | None:
    text = os.environ.get("EXPECTED_STATUS_CODE", "").strip()
    if not text:
        return None
    try:
        code = int(text)
    except ValueError:
        raise ValueError(f"environment variable EXPECTED_STATUS_CODE must be an integer, got {text!r}") from None
    if not 100 <= code <= 599:
        raise ValueError(f"environment variable EXPECTED_STATUS_CODE must be an HTTP status code, got {code}")
    return code


def _invoke_timeout_seconds() -> float:
    text = os.environ.get("INVOKE_TIMEOUT_SECONDS", "").strip()
    if not text:
        return DEFAULT_INVOKE_TIMEOUT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"environment variable INVOKE_TIMEOUT_SECONDS must be a number, got {text!r}") from None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_INVOKE_TIMEOUT_SECONDS):
        raise ValueError(
            f"environment variable INVOKE_TIMEOUT_SECONDS must be above 0 and at most {MAX_INVOKE_TIMEOUT_SECONDS:g}"
        )
    return seconds


TARGET_FUNCTION_ARN = _required_env("TARGET_FUNCTION_ARN")
SMOKE_PAYLOAD = _smoke_payload()
EXPECTED_STATUS_CODE = _expected_status_code()
INVOKE_TIMEOUT_SECONDS = _invoke_timeout_seconds()

# Both clients from one botocore session (it loads the endpoint data once); botocore's rather than
# boto3's, whose session layer adds cold-start time for nothing a low-level client uses.
_session = botocore.session.get_session()
# One attempt only: botocore's ``max_attempts`` counts retries *after* the first request, so
# ``{"max_attempts": 1}`` would invoke a hanging version twice and double the hook's run time.
# ``total_max_attempts`` counts the first request too.
_LAMBDA_CONFIG = Config(read_timeout=INVOKE_TIMEOUT_SECONDS, retries={"total_max_attempts": 1})
lambda_client = _session.create_client("lambda", config=_LAMBDA_CONFIG)
codedeploy = _session.create_client("codedeploy")


def _after_restore() -> None:
    """SnapStart: each environment restored from the snapshot gets its own clients (new connections,
    credentials resolved anew) and random seed, not the copies frozen in the snapshot. The service
    models stay loaded: the new session shares the old one's loader."""
    global lambda_client, codedeploy
    session = botocore.session.get_session()
    session.register_component("data_loader", _session.get_component("data_loader"))
    lambda_client = session.create_client("lambda", config=_LAMBDA_CONFIG)
    codedeploy = session.create_client("codedeploy")
    random.seed()


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # set by Lambda; the hooks' library is there
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda's runtime only

    register_after_restore(_after_restore)


class MalformedHookEvent(ValueError):
    """The event is not a CodeDeploy lifecycle hook event, so there is nothing to report against."""


class SmokeTestFailed(Exception):
    """The new version did not pass the smoke test; the message says why (never the payload)."""


def parse_hook_event(event: Any) -> tuple[str, str]:
    """Return ``(deployment_id, lifecycle_event_hook_execution_id)`` or raise ``MalformedHookEvent``."""
    if not isinstance(event, dict):
        raise MalformedHookEvent(f"CodeDeploy hook event must be a JSON object, got {type(event).__name__}")
    ids = []
    for key in ("DeploymentId", "LifecycleEventHookExecutionId"):
        value = event.get(key)
        if not isinstance(value, str) or not value.strip():
            raise MalformedHookEvent(f"CodeDeploy hook event needs a non-empty string {key!r}")
        ids.append(value)
    return ids[0], ids[1]


def _check_status_code(raw: bytes) -> None:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SmokeTestFailed("response is not JSON") from None
    if not isinstance(body, dict):
        raise SmokeTestFailed("response is not a JSON object")
    status_code = body.get("statusCode")
    if type(status_code) is not int:  # bool is an int subclass, and "200" is not 200
        raise SmokeTestFailed("response has no integer statusCode")
    if status_code != EXPECTED_STATUS_CODE:
        raise SmokeTestFailed(f"response statusCode is not the expected {EXPECTED_STATUS_CODE}")


def smoke_test() -> None:
    """Invoke the target version once; raise ``SmokeTestFailed`` saying why it does not pass."""
    try:
        response = lambda_client.invoke(
            FunctionName=TARGET_FUNCTION_ARN,
            InvocationType="RequestResponse",
            Payload=SMOKE_PAYLOAD,
        )
        raw = response["Payload"].read()
    except ClientError as error:
        details = error.response.get("Error", {})
        code, message = details.get("Code", "unknown"), details.get("Message", "")
        raise SmokeTestFailed(f"invoke failed: {code}: {message}") from error
    except Exception as error:  # read/connect timeouts, connection errors, anything else: the check fails
        raise SmokeTestFailed(f"invoke failed: {type(error).__name__}: {error}") from error
    logger.info(
        "target invoked",
        extra={
            "executed_version": response.get("ExecutedVersion"),
            "invoke_status_code": response.get("StatusCode"),
            "response_bytes": len(raw),
        },
    )
    function_error = response.get("FunctionError")
    if function_error:
        raise SmokeTestFailed(f"target returned a function error ({function_error})")
    if response.get("StatusCode") != 200:
        raise SmokeTestFailed(f"invoke answered with status code {response.get('StatusCode')}")
    if EXPECTED_STATUS_CODE is not None:
        _check_status_code(raw)


def report(deployment_id: str, execution_id: str, status: str) -> None:
    try:
        codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id,
            lifecycleEventHookExecutionId=execution_id,
            status=status,
        )
    except Exception:
        logger.exception(
            "could not report the hook status; CodeDeploy will time the hook out", extra={"status": status}
        )
        raise
    logger.info("hook status reported", extra={"status": status})


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, str]:
    try:
        deployment_id, execution_id = parse_hook_event(event)
    except MalformedHookEvent as error:
        logger.error("malformed CodeDeploy hook event, nothing to report against", extra={"reason": str(error)})
        raise
    logger.append_keys(deployment_id=deployment_id, lifecycle_event_hook_execution_id=execution_id)
    logger.info(
        "smoke-testing the new version",
        extra={"target": TARGET_FUNCTION_ARN, "payload_bytes": len(SMOKE_PAYLOAD)},
    )
    try:
        smoke_test()
    except SmokeTestFailed as failure:
        logger.error("smoke test failed", extra={"reason": str(failure)})
        status = "Failed"
    else:
        status = "Succeeded"
    report(deployment_id, execution_id, status)
    return {"status": status}
