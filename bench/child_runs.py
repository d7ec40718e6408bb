"""Running one measured thing in a fresh child process, and the progress log on stderr."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_child(command: list[str], *, env: dict, cwd: Path, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - started, completed


def child_failure(completed: subprocess.CompletedProcess) -> str:
    tail = (completed.stderr or completed.stdout or "").strip().splitlines()[-6:]
    return f"exit {completed.returncode}: " + " | ".join(tail)
