"""One warm Lambda execution environment: import a handler once, then run invocations on request.

:mod:`patterns.local.workers` starts this file by path (``python -u _worker.py REQUESTS_FD
RESPONSES_FD``) with the function's code folder as the working directory and ``LAMBDA_TASK_ROOT``.
It deliberately imports nothing from ``patterns``: that package's ``__init__`` loads the CDK, which
would add seconds to every cold start.

Protocol: one JSON object per line. Requests arrive on ``REQUESTS_FD``::

    {"request_id": "...", "invoked_function_arn": "...", "timeout_ms": 3000, "event": {...}}

Responses leave on ``RESPONSES_FD``: first ``{"type": "ready"}`` or ``{"type": "init_error",
"error": {...}}`` once the handler is imported, then one ``{"type": "result", "payload": ...}``
or ``{"type": "error", "error": {...}}`` per request. The handler's own output goes to stdout and
stderr, which the pool reads as the function's log, so nothing it prints can corrupt a response.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

Handler = Callable[[Any, Any], Any]


class LambdaContext:
    """The context object Lambda's Python runtime passes to a handler."""

    def __init__(self, request_id: str, invoked_function_arn: str, timeout_ms: int) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]  # a string, as on Lambda
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.invoked_function_arn = invoked_function_arn
        self.aws_request_id = request_id
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InitError(Exception):
    """The handler could not be loaded; ``error`` is what Lambda reports for it."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["errorMessage"])
        self.error = error


class _RequestIdFilter(logging.Filter):
    """Stamps log records with the current request id, as the Lambda runtime's log handler does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _configure_root_logger() -> _RequestIdFilter:
    """Give the root logger Lambda's handler and format, so plain ``logging`` calls show up."""
    request_ids = _RequestIdFilter()
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(request_ids)
    logging.getLogger().addHandler(handler)
    return request_ids


def _error(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}


def _exception_error(exception: BaseException) -> dict[str, Any]:
    """Lambda's error for an exception: its frames in the function's code, not the runtime's."""
    frames = [
        frame
        for frame in traceback.extract_tb(exception.__traceback__)
        if frame.filename != __file__ and not frame.filename.startswith("<frozen importlib")
    ]
    return _error(type(exception).__name__, str(exception), traceback.format_list(frames))


def load_handler(spec: str) -> Handler:
    """Import ``module.function`` (``folder/module.function`` too) the way Lambda's runtime does."""
    module_name, dot, function_name = spec.rpartition(".")
    if not dot or not module_name:
        raise InitError(_error("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack"))
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InitError(
            _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}")
        ) from None
    except SyntaxError as error:
        raise InitError(
            _error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}")
        ) from None
    except Exception as error:  # the module's own code failed while running at import time
        raise InitError(_exception_error(error)) from None
    handler: Handler | None = getattr(module, function_name, None)
    if handler is None:
        raise InitError(
            _error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
        )
    return handler


def _json_default(value: Any) -> Any:
    """Lambda's runtime serializes Decimal (what boto3's DynamoDB resource returns) as a number."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def invoke(handler: Handler, request: dict[str, Any]) -> dict[str, Any]:
    """Run one invocation and return its response message (not yet checked to be JSON)."""
    context = LambdaContext(request["request_id"], request["invoked_function_arn"], request["timeout_ms"])
    try:
        return {"type": "result", "payload": handler(request["event"], context)}
    except Exception as error:
        return {"type": "error", "error": _exception_error(error)}
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def encode(message: dict[str, Any]) -> bytes:
    """One protocol line; a return value JSON cannot hold becomes Lambda's marshal error instead."""
    try:
        text = json.dumps(message, default=_json_default)
    except (TypeError, ValueError) as error:
        marshal_error = _error("Runtime.MarshalError", f"Unable to marshal response: {error}")
        text = json.dumps({"type": "error", "error": marshal_error})
    return text.encode() + b"\n"


def _send(responses: BinaryIO, message: dict[str, Any]) -> None:
    responses.write(encode(message))
    responses.flush()


def main(argv: list[str]) -> int:
    requests = os.fdopen(int(argv[1]), "rb")
    responses = os.fdopen(int(argv[2]), "wb")
    # The task root replaces this script's folder, whose modules (model.py, ...) must not shadow the function's.
    sys.path[0] = os.environ["LAMBDA_TASK_ROOT"]
    request_ids = _configure_root_logger()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except InitError as failure:
        _send(responses, {"type": "init_error", "error": failure.error})
        return 1
    _send(responses, {"type": "ready"})
    for line in requests:
        request = json.loads(line)
        request_ids.request_id = request["request_id"]
        _send(responses, invoke(handler, request))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
