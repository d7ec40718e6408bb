"""The Lambda Invoke API the local run serves to moto's state machines: answers before, and for what, it can run."""

from __future__ import annotations

import json

from http_client import request

from patterns.local.lambda_bridge import LambdaBridge
from patterns.local.model import LocalEnvironment
from patterns.local.workers import FunctionPool

INVOKE = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amissing/invocations"


def test_it_answers_503_until_attached_then_404_for_a_function_the_run_does_not_have():
    lines: list[str] = []
    bridge = LambdaBridge(log=lines.append).start()
    try:
        status, _, _ = request(bridge.url, "POST", INVOKE, body=b"{}")
        assert status == 503
        with FunctionPool("http://127.0.0.1:9") as pool:
            bridge.attach(LocalEnvironment(endpoint="http://127.0.0.1:9", region="us-east-1", stacks=[]), pool)
            status, headers, body = request(bridge.url, "POST", INVOKE, body=b"{}")
        assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
        assert "Function not found" in json.loads(body)["message"]
        assert any("not part of this local run" in line for line in lines)
        assert request(bridge.url, "GET", "/anything")[0] == 404
    finally:
        bridge.stop()
