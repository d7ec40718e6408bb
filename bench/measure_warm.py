"""3. Warm invocation: each handler against its raw AWS call, in lockstep child processes on moto's server."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from benchlib import BENCH_DIR, RESULT_MARKER, TESTS_DIR, clean_aws_env, latency_summary
from child_runs import log
from staging import Handlers

#: A single-write consumer's warm p50 against the raw write it performs.
SINGLE_WRITE_P50_TARGET = 1.3


class LockstepChild:
    """A warm_child.py process that times one invocation each time it is told ``run``."""

    def __init__(self, command: list[str], *, env: dict, cwd: Path, stderr_path: Path):
        self._stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - the child writes to it until close()
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        self._buffer = b""

    def result(self, timeout: float) -> dict:
        """The next result line (other output, e.g. the handler's logs, is skipped)."""
        marker = RESULT_MARKER.encode()
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while time.monotonic() < deadline:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                if line.startswith(marker):
                    return json.loads(line[len(marker) :])
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise RuntimeError(self.failure())
                self._buffer += chunk
        raise RuntimeError(f"no answer within {timeout:.0f} s")

    def run_one(self, timeout: float = 60.0) -> float:
        self.process.stdin.write(b"run\n")
        self.process.stdin.flush()
        return self.result(timeout)["t"]

    def failure(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._stderr.flush()
        tail = self._stderr_path.read_text(errors="replace").strip().splitlines()[-6:]
        return f"exit {self.process.returncode}: " + " | ".join(tail)

    def close(self) -> None:
        try:
            self.process.stdin.write(b"exit\n")
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self._stderr.close()


def bench_warm(handlers: Handlers, invocations: int, warmup: int, scratch: Path, fake_aws_env: dict) -> dict:
    sys.path.insert(0, str(TESTS_DIR))
    from aws_local import moto_server  # the same local AWS the handler tests use
    from warm_drivers import DRIVERS

    entries, skipped = {}, {}
    base = clean_aws_env(fake_aws_env, scratch)
    log("  starting moto server on 127.0.0.1")
    with moto_server() as endpoint:
        for name in handlers.names:
            driver = DRIVERS.get(name)
            if driver is None:
                skipped[name] = "no driver in bench/warm_drivers.py knows this handler's event and raw call"
                continue
            env = handlers.lambda_env(name, base)
            env["AWS_ENDPOINT_URL"] = endpoint

            def start(
                label: str, mode: str, extra_env: dict | None = None, name: str = name, env: dict = env
            ) -> LockstepChild:
                return LockstepChild(
                    [
                        sys.executable,
                        str(BENCH_DIR / "warm_child.py"),
                        name,
                        mode,
                        str(handlers.folders[name]),
                        str(warmup),
                    ],
                    env={**env, **(extra_env or {})},
                    cwd=BENCH_DIR,
                    stderr_path=scratch / f"warm-{name}-{label}.stderr",
                )

            children: dict[str, LockstepChild] = {}
            try:
                children["raw_call"] = start("raw", "raw")
                children["handler"] = start("handler", "handler")
                ready = {label: child.result(timeout=180) for label, child in children.items()}
                if ready["handler"]["tracing_active"]:
                    children["handler_tracing_disabled"] = start(
                        "untraced", "handler", {"POWERTOOLS_TRACE_DISABLED": "true"}
                    )
                    ready["handler_tracing_disabled"] = children["handler_tracing_disabled"].result(timeout=180)
                labels = list(children)
                samples: dict[str, list[float]] = {label: [] for label in labels}
                for i in range(invocations):  # lockstep, rotating which one goes first
                    for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
                        samples[label].append(children[label].run_one())
            except (RuntimeError, ValueError, OSError) as failure:
                skipped[name] = f"could not drive it: {failure}"
                log(f"  warm {name}: skipped ({skipped[name]})")
                continue
            finally:
                for child in children.values():
                    child.close()
            measured = {
                label: {
                    "latency": latency_summary(samples[label]),
                    "aws_calls_per_invocation": ready[label]["aws_calls_per_invocation"],
                    "tracing_active": ready[label]["tracing_active"],
                }
                for label in labels
            }
            handler, raw = measured["handler"], measured["raw_call"]
            dynamodb_requests = (
                sum(
                    count for call, count in handler["aws_calls_per_invocation"].items() if call.startswith("dynamodb:")
                )
                / driver.messages_per_invocation
            )
            entry = {
                "request": driver.request,
                "raw": driver.raw,
                "stubbed_with_botocore_stubber": list(driver.stubbed),
                **measured,
                "overhead_p50_ms": handler["latency"]["p50_ms"] - raw["latency"]["p50_ms"],
                "overhead_p50_ms_per_call_adjusted": _call_adjusted_overhead(handler, raw),
                "p50_ratio_to_raw": handler["latency"]["p50_ms"] / raw["latency"]["p50_ms"],
                "p99_ratio_to_raw": handler["latency"]["p99_ms"] / raw["latency"]["p99_ms"],
                "dynamodb_requests_per_message": round(dynamodb_requests, 2),
                "target": "informational (no target)",
                "met": None,
            }
            if driver.single_write:
                entry["target"] = f"1 DynamoDB request per message and p50 <= {SINGLE_WRITE_P50_TARGET}x the raw write"
                entry["met"] = dynamodb_requests == 1 and entry["p50_ratio_to_raw"] <= SINGLE_WRITE_P50_TARGET
            entries[name] = entry
            log(
                f"  warm {name}: handler p50 {handler['latency']['p50_ms']:.2f} ms, raw p50 {raw['latency']['p50_ms']:.2f} ms"
            )
    return {
        "method": (
            f"{warmup} untimed warm-up invocations, then {invocations} timed ones. The handler and the raw call run in "
            "two fresh processes side by side, in lockstep (one timed call at a time, alternating which goes first), so "
            "both see the same machine load: the handler imported from its staged folder with the deployed environment "
            "(Tracer enabled, a new sampled _X_AMZN_TRACE_ID per invocation, segments sent by UDP to an unread socket on "
            "127.0.0.1; a third process with POWERTOOLS_TRACE_DISABLED=true when the handler traces), the raw boto3 call "
            "in a process that never imports Powertools. AWS calls go over HTTP to moto's server on 127.0.0.1 "
            "(tests/aws_local.py), except those a driver lists as stubbed (botocore Stubber, in-process). Handlers log "
            "to a pipe. AWS calls are counted (botocore's _make_api_call wrapped) over the warm-up invocations. Targets "
            f"only for the single-write consumers: exactly 1 DynamoDB request per message and p50 <= "
            f"{SINGLE_WRITE_P50_TARGET}x the raw write; the others are informational."
        ),
        "invocations": invocations,
        "warmup": warmup,
        "handlers": entries,
        "skipped": skipped,
    }


def _call_adjusted_overhead(handler: dict, raw: dict) -> float | None:
    """Handler p50 minus the raw p50 scaled to the handler's number of AWS calls (when both make calls)."""
    handler_calls = sum(handler["aws_calls_per_invocation"].values())
    raw_calls = sum(raw["aws_calls_per_invocation"].values())
    if not raw_calls:
        return None
    return handler["latency"]["p50_ms"] - raw["latency"]["p50_ms"] * handler_calls / raw_calls
