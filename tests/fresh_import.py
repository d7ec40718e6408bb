"""Import a handler in a fresh interpreter, as a cold start does, and see which modules it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from handler_loader import LAMBDA_SRC

_CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
print(json.dumps(sorted(sys.modules)))
"""
# What Lambda's runtime ships for SnapStart hooks, as far as a handler's import needs it.
_SNAPSHOT_RESTORE_STUB = """
def register_after_restore(func, *args, **kwargs):
    pass


def register_before_snapshot(func, *args, **kwargs):
    pass
"""


def modules_after_import(function: str, environment: dict[str, str]) -> set[str]:
    """The modules loaded once ``lambda_src/<function>/app.py`` is imported in a new interpreter.

    The child gets this process's environment (fake credentials and region), Lambda's
    ``LAMBDA_TASK_ROOT`` (so a Powertools Tracer is enabled, as on Lambda) and ``environment``;
    with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` a stand-in ``snapshot_restore_py`` too.
    """
    folder = LAMBDA_SRC / function
    with tempfile.TemporaryDirectory() as stubs:
        (Path(stubs) / "snapshot_restore_py.py").write_text(_SNAPSHOT_RESTORE_STUB)
        completed = subprocess.run(
            [sys.executable, "-c", _CODE, str(folder)],
            env={
                **os.environ,
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": stubs,
                "LAMBDA_TASK_ROOT": str(folder),
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "POWERTOOLS_TRACE_DISABLED": "false",
                **environment,
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr
    return set(json.loads(completed.stdout.splitlines()[-1]))
