"""Run :class:`LocalFunction` s in warm worker processes, as Lambda runs them in execution environments.

Each function gets its own processes (``_worker.py``), started on first use and kept for later
invocations, so module-level clients and caches survive between invocations as they do on Lambda.
A worker runs one invocation at a time; concurrent invocations of a function start more workers,
up to ``max_workers_per_function``, after which they wait for a free one.

Requests and responses travel as JSON lines over two dedicated pipes; the worker's stdout and
stderr are the function's log, forwarded line by line to ``log`` as ``[function name] line``.
A worker that times out is killed (the next invocation starts a fresh one, a cold start); one whose
module failed to import is discarded too, so fixing the code and invoking again just works.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .endpoint import FAKE_CREDENTIALS
from .model import REGION, Invocation, LocalFunction

Log = Callable[[str], None]

WORKER_SCRIPT = Path(__file__).resolve().with_name("_worker.py")
#: Lambda gives a function's initialization (imports, module-level code) 10 seconds of its own.
INIT_TIMEOUT_SECONDS = 10.0


def worker_environment(function: LocalFunction, endpoint: str, region: str, log_stream_name: str) -> dict[str, str]:
    """A clean environment like Lambda's: nothing from the caller but PATH, HOME and LANG.

    Credentials are fake and the AWS config files are emptied, so a developer's profile or real
    keys can never reach a handler; ``AWS_ENDPOINT_URL`` sends every SDK call to the local endpoint.
    """
    environment = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    environment.update(FAKE_CREDENTIALS)
    environment.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "_HANDLER": function.handler,
            "TZ": ":UTC",
            # There is no X-Ray daemon locally; Powertools' Tracer would only log failures to reach it.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    environment.update(function.environment)
    return environment


def _request_line(function: LocalFunction, request_id: str, event: Any) -> bytes:
    """One invocation request of the worker protocol (raises ``TypeError`` if ``event`` is not JSON)."""
    request = {
        "request_id": request_id,
        "invoked_function_arn": function.arn,
        "timeout_ms": function.timeout_seconds * 1000,
        "event": event,
    }
    return json.dumps(request).encode() + b"\n"


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message, "stackTrace": []}


class _WorkerGone(Exception):
    """The worker process closed its end of the protocol: it exited or was killed."""


@dataclass
class _Reply:
    """What came back for one request: a protocol message, or nothing before the deadline."""

    message: dict[str, Any] | None = None
    timed_out: bool = False


class _Worker:
    """One worker process: a warm execution environment for one function."""

    def __init__(self, function: LocalFunction, endpoint: str, region: str, log: Log) -> None:
        self.function = function
        self._log = log
        log_stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
        requests_read, requests_write = os.pipe()
        responses_read, responses_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-u", str(WORKER_SCRIPT), str(requests_read), str(responses_write)],
                cwd=function.code_dir,
                env=worker_environment(function, endpoint, region, log_stream),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(requests_read, responses_write),
            )
        except BaseException:
            for fd in (requests_write, responses_read):
                os.close(fd)
            raise
        finally:
            os.close(requests_read)
            os.close(responses_write)
        self._requests = os.fdopen(requests_write, "wb")
        self._responses = responses_read
        self._buffer = bytearray()
        self._log_thread = threading.Thread(
            target=self._forward_log, args=(self.process.stdout,), name=f"log {function.name}", daemon=True
        )
        self._log_thread.start()

    def wait_ready(self, timeout: float) -> dict[str, Any] | None:
        """Wait for the handler's import; ``None`` when ready, else the error to report."""
        try:
            reply = self._receive(time.monotonic() + timeout)
        except _WorkerGone:
            return self.exit_error()
        if reply.timed_out:
            return _error("Sandbox.Timedout", f"Init phase timed out after {timeout:.2f} seconds")
        assert reply.message is not None
        if reply.message["type"] == "init_error":
            error: dict[str, Any] = reply.message["error"]
            return error
        return None

    def run(self, request: bytes) -> _Reply:
        """Send one invocation (a :func:`_request_line`) and wait for its response until the timeout."""
        try:
            self._requests.write(request)
            self._requests.flush()
        except BrokenPipeError:
            raise _WorkerGone() from None
        return self._receive(time.monotonic() + self.function.timeout_seconds)

    def exit_error(self) -> dict[str, Any]:
        return _error("Runtime.ExitError", f"Runtime exited with error: {self._exit_status()}")

    def kill(self) -> None:
        """Stop the process, whatever it is doing; safe from any thread (its pipes stay open)."""
        if self.process.poll() is None:
            self.process.kill()

    def dispose(self) -> None:
        """Kill the process and release its pipes; only for the thread that holds the worker."""
        self.kill()
        self.process.wait()
        self._log_thread.join(timeout=2)
        with contextlib.suppress(OSError):  # an unsent request to a dead process cannot be flushed
            self._requests.close()
        os.close(self._responses)

    def _exit_status(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the runtime stopped answering"
        return f"signal: {-code}" if code < 0 else f"exit status {code}"

    def _receive(self, deadline: float) -> _Reply:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _Reply(timed_out=True)
            readable, _, _ = select.select([self._responses], [], [], remaining)
            if not readable:
                return _Reply(timed_out=True)
            chunk = os.read(self._responses, 1 << 16)
            if not chunk:
                raise _WorkerGone()
            self._buffer.extend(chunk)
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return _Reply(message=json.loads(line))

    def _forward_log(self, output: IO[bytes]) -> None:
        prefix = f"[{self.function.name}] "
        for raw in output:
            self._log(prefix + raw.decode(errors="replace").rstrip("\r\n"))
        output.close()


@dataclass
class _Slots:
    """The workers of one function: idle ones, and how many exist (idle or busy) against the cap."""

    limit: int
    idle: list[_Worker] = field(default_factory=list)
    count: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)


class FunctionPool:
    """Warm worker processes for every function invoked through it; thread-safe.

    ``invoke`` blocks until the invocation finishes and returns its :class:`Invocation`, whatever
    happened in the function: errors, time-outs and crashes are results, as on Lambda.
    """

    def __init__(
        self,
        endpoint: str,
        region: str = REGION,
        log: Log = print,
        max_workers_per_function: int = 4,
    ) -> None:
        if max_workers_per_function < 1:
            raise ValueError("max_workers_per_function must be at least 1")
        self.endpoint = endpoint
        self.region = region
        self.log = log
        self.max_workers_per_function = max_workers_per_function
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str], _Slots] = {}
        self._workers: set[_Worker] = set()
        self._closed = False

    def __enter__(self) -> FunctionPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def invoke(self, function: LocalFunction, event: Any) -> Invocation:
        """Run ``function`` with ``event`` in a warm worker (starting one if none is free).

        Raises ``TypeError`` for an event JSON cannot carry, ``OSError`` when no worker process can
        be started (e.g. the code folder is missing) and ``RuntimeError`` once the pool is closed.
        """
        request_id = str(uuid.uuid4())
        if not function.runtime.startswith("python"):
            message = f"local workers run Python functions only; this one's runtime is {function.runtime}"
            invocation = Invocation(request_id=request_id, error=_error("Runtime.InvalidRuntime", message))
            self._log_invocation(function, invocation, None)
            return invocation
        request = _request_line(function, request_id, event)
        slots = self._slots_for(function)
        worker = self._checkout(slots)
        init_ms: float | None = None
        if worker is None:
            started = time.monotonic()
            worker, error = self._start_worker(function, slots)
            init_ms = (time.monotonic() - started) * 1000
            if error is not None:
                timed_out = error["errorType"] == "Sandbox.Timedout"
                invocation = Invocation(request_id=request_id, error=error, timed_out=timed_out)
                self._log_invocation(function, invocation, init_ms)
                return invocation
        healthy = False
        try:
            invocation, healthy = self._run(worker, request_id, request)
        finally:
            self._checkin(slots, worker, healthy)
        self._log_invocation(function, invocation, init_ms)
        return invocation

    def close(self) -> None:
        """Stop every worker; invocations still running end with ``Runtime.ExitError``.

        Idle workers are disposed of here; busy ones are only killed, and the threads running
        them dispose of them when their invocations return.
        """
        with self._lock:
            self._closed = True
            busy = set(self._workers)
            all_slots = list(self._slots.values())
        idle: list[_Worker] = []
        for slots in all_slots:
            with slots.changed:
                idle.extend(slots.idle)
                slots.idle.clear()
                slots.changed.notify_all()
        for worker in busy.difference(idle):
            worker.kill()
        for worker in idle:
            self._discard(worker)

    # -- workers -----------------------------------------------------------------------------------

    def _slots_for(self, function: LocalFunction) -> _Slots:
        key = (function.stack, function.logical_id)
        with self._lock:
            if self._closed:
                raise RuntimeError("the function pool is closed")
            first_use = key not in self._slots
            slots = self._slots.setdefault(key, _Slots(self.max_workers_per_function))
        local_runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if first_use and function.runtime != local_runtime:
            self.log(f"[{function.name}] runs on this machine's {local_runtime}, not {function.runtime}")
        return slots

    def _checkout(self, slots: _Slots) -> _Worker | None:
        """An idle worker, or ``None`` after reserving room for a new one; waits at the cap."""
        with slots.changed:
            while True:
                if self._closed:
                    raise RuntimeError("the function pool is closed")
                if slots.idle:
                    return slots.idle.pop()
                if slots.count < slots.limit:
                    slots.count += 1
                    return None
                slots.changed.wait()

    def _checkin(self, slots: _Slots, worker: _Worker, healthy: bool) -> None:
        """Keep a healthy worker warm for the next invocation; kill any other."""
        with slots.changed:
            keep = healthy and not self._closed
            if keep:
                slots.idle.append(worker)
            else:
                slots.count -= 1
            slots.changed.notify()
        if not keep:
            self._discard(worker)

    def _start_worker(self, function: LocalFunction, slots: _Slots) -> tuple[_Worker, dict[str, Any] | None]:
        """Start a worker and wait for its handler import (the cold start)."""
        try:
            worker = _Worker(function, self.endpoint, self.region, self.log)
        except BaseException:
            self._release_slot(slots)
            raise
        with self._lock:
            self._workers.add(worker)
            if self._closed:  # close() ran while the process was starting
                worker.kill()
        error = worker.wait_ready(INIT_TIMEOUT_SECONDS)
        if error is not None:
            self._checkin(slots, worker, healthy=False)
        return worker, error

    def _release_slot(self, slots: _Slots) -> None:
        with slots.changed:
            slots.count -= 1
            slots.changed.notify()

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
        worker.dispose()

    def _run(self, worker: _Worker, request_id: str, request: bytes) -> tuple[Invocation, bool]:
        """One invocation in ``worker``; also says whether the worker is still fit for the next."""
        started = time.monotonic()
        try:
            reply = worker.run(request)
        except _WorkerGone:
            reply = None
        duration_ms = (time.monotonic() - started) * 1000
        if reply is None:
            error = worker.exit_error()
            return Invocation(request_id=request_id, error=error, duration_ms=duration_ms), False
        if reply.timed_out:
            timeout = worker.function.timeout_seconds
            error = _error("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds")
            return Invocation(request_id=request_id, error=error, duration_ms=duration_ms, timed_out=True), False
        message = reply.message or {}
        if message.get("type") == "result":
            return Invocation(request_id=request_id, payload=message.get("payload"), duration_ms=duration_ms), True
        return Invocation(request_id=request_id, error=message.get("error"), duration_ms=duration_ms), True

    def _log_invocation(self, function: LocalFunction, invocation: Invocation, init_ms: float | None) -> None:
        cold = f" (cold start, init {init_ms:.0f} ms)" if init_ms is not None else ""
        if invocation.ok:
            outcome = "ok"
        else:
            error = invocation.error or {}
            outcome = f"{error.get('errorType')}: {error.get('errorMessage')}"
        self.log(
            f"[{function.name}] REPORT RequestId: {invocation.request_id} "
            f"Duration: {invocation.duration_ms:.2f} ms{cold} {outcome}"
        )
