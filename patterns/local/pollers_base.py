"""What every local poller shares: the polling thread, partial batch responses, small helpers.

``pollers`` (SQS, DynamoDB streams), ``pollers_streams`` (what every shard-based stream shares)
and ``pollers_kinesis`` build on it.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .model import EventSource, Invocation
from .workers import FunctionPool

Log = Callable[[str], None]

#: Longest a receive or a pause may block, so that ``stop()`` returns within about two seconds.
POLL_SECONDS = 1


def reported_failures(payload: Any, identifiers: list[str]) -> set[str]:
    """The batch items a function reported as failed in its partial batch response.

    Raises ``ValueError`` when Lambda would fail the whole batch instead: a response that is not
    a partial batch response, or an ``itemIdentifier`` missing, empty or not in the batch.
    """
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        raise ValueError(f"the response is not a partial batch response: {payload!r}")
    failures = payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise ValueError("batchItemFailures is not a list")
    known = set(identifiers)
    reported = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            raise ValueError(f"batchItemFailures names {identifier!r}, which is not in the batch")
        reported.add(identifier)
    return reported


class Poller:
    """A thread polling one event source until :meth:`stop`; subclasses do one poll at a time.

    ``window_idle_seconds``: a local-run shortcut for tumbling windows (``None``: windows close
    at their end, as on AWS); pollers of sources without windows ignore it.
    """

    kind = ""

    def __init__(
        self,
        source: EventSource,
        pool: FunctionPool,
        endpoint: str,
        region: str,
        log: Log = print,
        retry_delay_seconds: float | None = 1.0,
        window_idle_seconds: float | None = None,
    ) -> None:
        self.source = source
        self.pool = pool
        self.endpoint = endpoint
        self.region = region
        self.retry_delay_seconds = retry_delay_seconds
        self.window_idle_seconds = window_idle_seconds
        self._log = log
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller {self.name}", daemon=True)

    @property
    def name(self) -> str:
        return f"{self.source.stack}/{self.source.logical_id}"

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 2 * POLL_SECONDS) -> None:
        """Ask the thread to stop and wait for it (an invocation in progress may outlive ``timeout``)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def log(self, message: str) -> None:
        self._log(f"[{self.name}] {message}")

    def _run(self) -> None:
        reported = ""
        while not self._stopping.is_set():
            try:
                self.poll_once()
                reported = ""
            except Exception as error:  # the endpoint went away, a resource was deleted, ...
                if self._stopping.is_set():  # the run is shutting down around this poller
                    return
                text = f"{type(error).__name__}: {error}"
                if text != reported:  # once per distinct error, not once per second
                    self.log(f"{self.kind} polling failed, retrying: {text}")
                    reported = text
                self._stopping.wait(POLL_SECONDS)

    def poll_once(self) -> None:
        """Read one batch (or find none) and deliver it; :meth:`_run` calls this until stopped."""
        raise NotImplementedError

    def invoke(self, event: dict[str, Any]) -> Invocation:
        return self.pool.invoke(self.source.function, event)


def base64_text(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def seconds_left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def iso(epoch_seconds: float, milliseconds: bool = False) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds" if milliseconds else "seconds").replace("+00:00", "Z")
