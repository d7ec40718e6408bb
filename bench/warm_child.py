"""Time warm invocations of one handler, or of the raw call it wraps, one at a time on command.

    python bench/warm_child.py FUNCTION handler|raw STAGED_FOLDER WARMUP

The parent sets the environment (fake credentials, ``AWS_ENDPOINT_URL`` of moto on 127.0.0.1, the
Lambda runtime's variables and the function's own) and runs a ``handler`` and a ``raw`` child side by
side in lockstep: it writes ``run`` to one, waits for its timing, then to the other, alternating, so
both are measured in the same moments of machine load and never overlap. ``exit`` ends the child.

``handler`` imports ``app`` from the staged asset folder as the Lambda runtime does and invokes
``app.handler`` with a fresh context and, as Lambda does, a fresh sampled ``_X_AMZN_TRACE_ID`` per
invocation (X-Ray segments go by UDP to a socket of this process on 127.0.0.1 that never reads them).
``raw`` never imports the handler, Powertools or the X-Ray SDK, so its botocore is unpatched.
Results are lines starting with ``BENCH_RESULT`` on stdout; other lines (the handler's logs) are
ignored by the parent.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import time

from warm_drivers import DRIVERS

RESULT_MARKER = "BENCH_RESULT "


def emit(payload: dict) -> None:
    sys.stdout.write(RESULT_MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()


def _trace_header() -> str:
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=1;Lineage=bench:0"


def _count_aws_calls():
    """Count botocore API calls (stubbed or not) until the returned ``stop()`` is called."""
    from botocore.client import BaseClient

    original = BaseClient.__dict__["_make_api_call"]
    bound = BaseClient._make_api_call
    calls: list[str] = []

    def counting(self, operation_name, api_params):
        calls.append(f"{self.meta.service_model.service_name}:{operation_name}")
        return bound(self, operation_name, api_params)

    BaseClient._make_api_call = counting

    def stop() -> list[str]:
        BaseClient._make_api_call = original
        return calls

    return stop


def main(function: str, mode: str, folder: str, warmup: int) -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"127.0.0.1:{sink.getsockname()[1]}"

    driver = DRIVERS[function]()
    os.environ.update(driver.setup(prefix=f"{mode}-{os.getpid()}"))
    if mode == "handler":
        sys.path.insert(0, folder)
        import app

        workload = driver.handler_workload(app)
    else:
        workload = driver.raw_workload()

    stop = _count_aws_calls()
    for i in range(warmup):
        os.environ["_X_AMZN_TRACE_ID"] = _trace_header()
        workload.check(workload.run(workload.prepare(i)))
    calls = stop()
    per_invocation: dict[str, float] = {}
    for call in calls:
        per_invocation[call] = per_invocation.get(call, 0) + 1 / warmup
    tracing_active = False
    if "aws_xray_sdk.core" in sys.modules:
        from aws_xray_sdk import global_sdk_config

        tracing_active = global_sdk_config.sdk_enabled() and "aws_xray_sdk.ext.botocore.patch" in sys.modules
    emit(
        {
            "ready": True,
            "aws_calls_per_invocation": {name: round(count, 2) for name, count in sorted(per_invocation.items())},
            "tracing_active": tracing_active,
        }
    )

    perf_counter = time.perf_counter
    invocation = warmup
    for line in sys.stdin:  # one command per line from the parent; EOF or "exit" ends the loop
        if line.strip() != "run":
            break
        os.environ["_X_AMZN_TRACE_ID"] = _trace_header()
        args = workload.prepare(invocation)
        started = perf_counter()
        result = workload.run(args)
        elapsed = perf_counter() - started
        workload.check(result)
        invocation += 1
        emit({"t": elapsed})
    sink.close()


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[2] not in ("handler", "raw"):
        sys.exit("usage: warm_child.py FUNCTION handler|raw STAGED_FOLDER WARMUP")
    main(sys.argv[1], sys.argv[2], sys.argv[3], max(1, int(sys.argv[4])))
