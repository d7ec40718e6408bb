"""moto's server with its Step Functions interpreter's Lambda tasks sent to the local run's function workers.

Run as ``python -m patterns.local.moto_stepfunctions -H HOST -p PORT`` with
``PATTERNS_LOCAL_LAMBDA_ENDPOINT`` set to a :class:`~patterns.local.lambda_bridge.LambdaBridge`'s URL.
moto's ASL interpreter (``stepfunctions.execute_state_machine``) calls Lambda's ``Invoke`` for every
Lambda task, whether the task names the function's ARN or ``arn:aws:states:::lambda:invoke``, through
one function, ``lambda_eval_utils._invoke_lambda_function``, against moto's own Lambda (which would
need Docker). The one change made here: that call goes to the bridge instead, which runs the
function in the same warm workers the local gateway and pollers use. Everything else (states,
retries with their backoff and jitter, catches, intrinsic functions, the execution history, and
``aws-sdk`` tasks, which moto sends to its own services) is moto's.

This module runs in moto's process and imports no CDK.
"""

from __future__ import annotations

import os
import sys
from typing import Any

LAMBDA_ENDPOINT_VARIABLE = "PATTERNS_LOCAL_LAMBDA_ENDPOINT"
# A task's invocation may take a function's whole timeout (at most 15 minutes).
_READ_TIMEOUT_SECONDS = 900


def install(lambda_endpoint: str) -> None:
    """Send the interpreter's Lambda invocations to ``lambda_endpoint`` (Lambda's ``Invoke`` API)."""
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    if not callable(getattr(lambda_eval_utils, "_invoke_lambda_function", None)):
        # The hook point of moto 5.2.x; another version must be checked before it is trusted here.
        raise RuntimeError("this moto version has no lambda_eval_utils._invoke_lambda_function to route Lambda tasks")

    def invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        client = boto3.client(
            "lambda",
            endpoint_url=lambda_endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"total_max_attempts": 1}, read_timeout=_READ_TIMEOUT_SECONDS),
        )
        response: dict[str, Any] = client.invoke(**parameters)
        response["Payload"] = lambda_eval_utils._from_payload(response["Payload"])
        return response

    lambda_eval_utils._invoke_lambda_function = invoke


def main(argv: list[str]) -> None:
    port = argv[argv.index("-p") + 1] if "-p" in argv else "5000"
    # aws-sdk tasks call moto's services at localhost:MOTO_PORT; make that this server.
    os.environ["MOTO_PORT"] = port
    endpoint = os.environ.get(LAMBDA_ENDPOINT_VARIABLE)
    if endpoint:
        install(endpoint)
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
