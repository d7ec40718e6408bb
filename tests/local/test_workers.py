"""FunctionPool: functions run in warm worker processes and fail the way Lambda reports failures."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from patterns.local.model import ACCOUNT, REGION, LocalFunction
from patterns.local.workers import FunctionPool

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"

COUNTER = """
import os
invocations = 0

def handler(event, context):
    global invocations
    invocations += 1
    return {"invocations": invocations, "pid": os.getpid()}
"""


class Logs(list):
    """The pool's log lines (appended from worker log threads, hence the polling helper)."""

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self):
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no log line containing {text!r} in {list(self)!r}")


def local_function(
    code_dir: Path,
    name: str = "Demo-Fn",
    handler: str = "app.handler",
    timeout: int = 3,
    environment: dict[str, str] | None = None,
    runtime: str = "python3.12",
) -> LocalFunction:
    return LocalFunction(
        stack="Demo",
        logical_id=name.replace("-", ""),
        name=name,
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        code_dir=code_dir,
        handler=handler,
        runtime=runtime,
        timeout_seconds=timeout,
        memory_mb=256,
        environment=environment or {},
    )


@pytest.fixture
def make_function(tmp_path: Path) -> Callable[..., LocalFunction]:
    """Write ``source`` as ``app.py`` of a fresh code folder and describe a function running it."""

    def make(source: str, **options) -> LocalFunction:
        name = options.pop("name", "Demo-Fn")
        code_dir = tmp_path / name
        code_dir.mkdir()
        (code_dir / "app.py").write_text(textwrap.dedent(source))
        return local_function(code_dir, name=name, **options)

    return make


@pytest.fixture
def logs() -> Logs:
    return Logs()


@pytest.fixture
def pool(moto_endpoint: str, logs: Logs) -> Iterator[FunctionPool]:
    with FunctionPool(moto_endpoint, log=logs.append) as pool:
        yield pool


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_function_stays_warm_between_invocations(pool, make_function):
    function = make_function(COUNTER)
    results = [pool.invoke(function, {}) for _ in range(3)]
    assert all(result.ok for result in results)
    assert [result.payload["invocations"] for result in results] == [1, 2, 3]
    assert len({result.payload["pid"] for result in results}) == 1


def test_the_handler_gets_lambdas_context_and_a_clean_environment(pool, make_function, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("CALLER_SECRET", "do-not-leak")
    function = make_function(
        """
        import os, sys

        def handler(event, context):
            return {
                "event": event,
                "env": dict(os.environ),
                "cwd": os.getcwd(),
                "path0": sys.path[0],
                "patterns_loaded": "patterns" in sys.modules,
                "context": {
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "invoked_function_arn": context.invoked_function_arn,
                    "memory_limit_in_mb": context.memory_limit_in_mb,
                    "aws_request_id": context.aws_request_id,
                    "log_group_name": context.log_group_name,
                    "log_stream_name": context.log_stream_name,
                    "remaining": context.get_remaining_time_in_millis(),
                },
            }
        """,
        environment={"TABLE_NAME": "items", "AWS_REGION": "us-east-1"},
    )
    result = pool.invoke(function, {"hello": ["world", 1]})
    assert result.ok, result.error
    payload = result.payload
    assert payload["event"] == {"hello": ["world", 1]}

    env = payload["env"]
    assert env["AWS_ENDPOINT_URL"] == pool.endpoint
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == env["AWS_SESSION_TOKEN"] == "testing"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "Demo-Fn"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/Demo-Fn"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(function.code_dir)
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["TABLE_NAME"] == "items"
    assert "AWS_PROFILE" not in env and "CALLER_SECRET" not in env

    assert payload["cwd"] == payload["path0"] == str(function.code_dir)
    assert payload["patterns_loaded"] is False

    context = payload["context"]
    assert context["function_name"] == "Demo-Fn"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == function.arn
    assert context["memory_limit_in_mb"] == "256"
    assert context["aws_request_id"] == result.request_id
    assert context["log_group_name"] == "/aws/lambda/Demo-Fn"
    assert context["log_stream_name"] == env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < context["remaining"] <= 3000


def test_sdk_calls_reach_the_local_endpoint(aws, pool, make_function):
    boto3.client("sqs").create_queue(QueueName="made-outside")
    function = make_function(
        """
        import boto3
        sqs = boto3.client("sqs")  # module level, reused while warm

        def handler(event, context):
            return sqs.list_queues().get("QueueUrls", [])
        """
    )
    result = pool.invoke(function, {})
    assert result.ok, result.error
    assert [url.rsplit("/", 1)[1] for url in result.payload] == ["made-outside"]


def test_a_bundled_handler_runs_as_on_lambda(pool, logs):
    function = local_function(LAMBDA_SRC / "hello", name="Demo-Hello", environment={"GREETING": "hi"})
    result = pool.invoke(function, {"smoke": True})
    assert result.ok, result.error
    assert result.payload["statusCode"] == 200
    assert '"message": "hi"' in result.payload["body"]
    logs.wait_for('"function_request_id":"' + result.request_id)  # Powertools saw the context


def test_handler_output_is_logged_and_cannot_corrupt_the_protocol(pool, make_function, logs):
    function = make_function(
        """
        import logging, sys
        logging.getLogger().setLevel(logging.INFO)

        def handler(event, context):
            print('{"type": "result", "payload": "forged"}')
            print("to stderr", file=sys.stderr)
            logging.info("through logging")
            return "genuine"
        """
    )
    result = pool.invoke(function, {})
    assert result.payload == "genuine"
    logs.wait_for('[Demo-Fn] {"type": "result", "payload": "forged"}')
    logs.wait_for("[Demo-Fn] to stderr")
    assert result.request_id in logs.wait_for("through logging")
    report = logs.wait_for(f"REPORT RequestId: {result.request_id}")
    assert report.startswith("[Demo-Fn] ") and "cold start" in report and report.endswith(" ok")


def test_a_handler_exception_is_reported_and_the_worker_stays_warm(pool, make_function, logs):
    function = make_function(
        """
        import os

        class OrderRejected(Exception):
            pass

        def handler(event, context):
            if event.get("fail"):
                raise OrderRejected("order 42 is over the limit")
            return os.getpid()
        """
    )
    first = pool.invoke(function, {})
    failed = pool.invoke(function, {"fail": True})
    after = pool.invoke(function, {})
    assert not failed.ok and not failed.timed_out
    assert failed.error["errorType"] == "OrderRejected"
    assert failed.error["errorMessage"] == "order 42 is over the limit"
    assert any("app.py" in frame and "in handler" in frame for frame in failed.error["stackTrace"])
    assert not any("_worker.py" in frame for frame in failed.error["stackTrace"])
    assert after.payload == first.payload  # the same process
    assert "OrderRejected: order 42 is over the limit" in logs.wait_for(f"REPORT RequestId: {failed.request_id}")


def test_a_timeout_kills_the_worker_and_the_next_invocation_starts_cold(pool, make_function):
    sleepy_counter = COUNTER.replace(
        "invocations += 1", "invocations += 1\n    if event.get('sleep'):\n        time.sleep(5)"
    )
    function = make_function("import time\n" + sleepy_counter, timeout=1)
    warm = pool.invoke(function, {})
    timed_out = pool.invoke(function, {"sleep": True})
    cold = pool.invoke(function, {})
    assert timed_out.timed_out
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert timed_out.error["errorMessage"] == "Task timed out after 1.00 seconds"
    assert cold.ok and cold.payload["invocations"] == 1
    assert cold.payload["pid"] != warm.payload["pid"]
    assert not process_exists(warm.payload["pid"])


@pytest.mark.parametrize(
    ("source", "handler", "error_type", "message"),
    [
        (
            "import not_installed_anywhere\n",
            "app.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'not_installed_anywhere'",
        ),
        (
            "def other(event, context):\n    return 1\n",
            "app.handler",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
        ),
        (
            "def handler(event, context):\n    return 1\n",
            "missing.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing': No module named 'missing'",
        ),
        ("raise RuntimeError('no config')\n", "app.handler", "RuntimeError", "no config"),
    ],
)
def test_initialization_errors(pool, make_function, source, handler, error_type, message):
    result = pool.invoke(make_function(source, handler=handler), {})
    assert result.error["errorType"] == error_type
    assert result.error["errorMessage"] == message


def test_a_fixed_import_error_works_on_the_next_invocation(pool, make_function):
    function = make_function("import not_installed_anywhere\n")
    assert pool.invoke(function, {}).error["errorType"] == "Runtime.ImportModuleError"
    (function.code_dir / "app.py").write_text("def handler(event, context):\n    return 'fixed'\n")
    assert pool.invoke(function, {}).payload == "fixed"


def test_return_values_must_be_json(pool, make_function):
    function = make_function(
        """
        from decimal import Decimal

        def handler(event, context):
            return {"price": Decimal("9.5")} if event.get("decimal") else {"items": {1, 2}}
        """
    )
    unmarshallable = pool.invoke(function, {})
    assert unmarshallable.error["errorType"] == "Runtime.MarshalError"
    assert "set is not JSON serializable" in unmarshallable.error["errorMessage"]
    assert pool.invoke(function, {"decimal": True}).payload == {"price": 9.5}  # as Lambda's runtime does


def test_a_worker_that_dies_mid_invocation_is_replaced(pool, make_function):
    function = make_function(
        """
        import os

        def handler(event, context):
            if event.get("exit"):
                os._exit(3)
            return os.getpid()
        """
    )
    before = pool.invoke(function, {})
    died = pool.invoke(function, {"exit": True})
    after = pool.invoke(function, {})
    assert died.error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in died.error["errorMessage"]
    assert after.ok and after.payload != before.payload


def test_concurrent_invocations_start_workers_up_to_the_cap(moto_endpoint, make_function):
    function = make_function(
        """
        import os, time

        def handler(event, context):
            time.sleep(0.3)
            return os.getpid()
        """
    )
    results = []
    with FunctionPool(moto_endpoint, log=lambda line: None, max_workers_per_function=2) as pool:
        threads = [threading.Thread(target=lambda: results.append(pool.invoke(function, {}))) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(result.ok for result in results)
        assert len({result.payload for result in results}) == 2
        assert pool.invoke(function, {}).payload in {result.payload for result in results}  # warm


def test_close_stops_every_worker(moto_endpoint, make_function):
    idle_function = make_function(COUNTER, name="Demo-Idle")
    busy_function = make_function(
        "import time\ndef handler(event, context):\n    print('working')\n    time.sleep(30)\n", name="Demo-Busy"
    )
    logs = Logs()
    pool = FunctionPool(moto_endpoint, log=logs.append)
    idle_pid = pool.invoke(idle_function, {}).payload["pid"]
    busy_results = []
    busy = threading.Thread(target=lambda: busy_results.append(pool.invoke(busy_function, {})))
    busy.start()
    logs.wait_for("[Demo-Busy] working")
    pool.close()
    busy.join(timeout=5)
    assert not busy.is_alive()
    assert busy_results[0].error["errorType"] == "Runtime.ExitError"
    assert not process_exists(idle_pid)
    with pytest.raises(RuntimeError, match="closed"):
        pool.invoke(idle_function, {})


def test_only_python_functions_run(pool, make_function):
    result = pool.invoke(make_function(COUNTER, runtime="nodejs22.x"), {})
    assert result.error["errorType"] == "Runtime.InvalidRuntime"
    assert "nodejs22.x" in result.error["errorMessage"]


def test_a_different_python_version_is_pointed_out_once(pool, make_function, logs):
    function = make_function(COUNTER, runtime="python3.99")
    pool.invoke(function, {})
    pool.invoke(function, {})
    assert len([line for line in logs if "not python3.99" in line]) == 1
