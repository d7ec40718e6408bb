"""Synthesize an app once per test run, whichever test worker asks first; the others wait for it and reuse it.

pytest-xdist gives each worker its own session, so a session fixture alone would synthesize the demo app,
the strict demo app and the consumer matrix once per worker. The workers of one run share the parent of
their temporary folders; a lock there lets the first one synthesize and the rest read its output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def synthesized_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, synthesize: Callable[[Path], str | None]
) -> tuple[Path, str | None]:
    """``synthesize(outdir)`` run once per test run; returns its output folder and the error it returned."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    outdir, done = root / name, root / f"{name}.done.json"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            outdir.mkdir(parents=True, exist_ok=True)
            done.write_text(json.dumps({"error": synthesize(outdir)}))
    error: str | None = json.loads(done.read_text())["error"]
    return outdir, error
