"""Waiting for work done in the background (pollers, consumers) without fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def eventually(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """The first truthy result of ``check``, polled until ``timeout``; fails the test if none comes."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"condition not reached within {timeout:.0f} s"
            return result
        time.sleep(interval)
