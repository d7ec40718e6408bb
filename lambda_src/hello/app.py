"""Greet the caller: the default function of the canary-deployment pattern.

Answers both a direct invocation and an API Gateway REST API proxy integration with the same
proxy-shaped response: ``statusCode`` 200, a JSON ``Content-Type`` and a JSON body
``{"message": <greeting>, "version": <function version>}``. The canary's smoke test invokes it
directly with ``{"smoke": true}`` and gets the same answer, so a new version that cannot greet
fails the pre-traffic check.

Environment: ``GREETING`` (default ``hello``), plus ``AWS_LAMBDA_FUNCTION_VERSION`` (set by the
Lambda runtime; ``$LATEST`` when absent) and Powertools' ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_LOG_LEVEL``. No AWS API calls, so no IAM actions beyond writing its logs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

GREETING = os.environ.get("GREETING", "hello")
VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST"

logger = Logger()


def is_smoke_test(event: Any) -> bool:
    return isinstance(event, dict) and event.get("smoke") is True


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    logger.info("greeting", extra={"smoke_test": is_smoke_test(event), "version": VERSION})
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": GREETING, "version": VERSION}),
    }
