"""Import a handler in a fresh interpreter, as a cold start does, and see which modules it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from handler_loader import LAMBDA_SRC

_CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
print(json.dumps(sorted(sys.modules)))
"""


def modules_after_import(function: str, environment: dict[str, str]) -> set[str]:
    """The modules loaded once ``lambda_src/<function>/app.py`` is imported in a new interpreter.

    The child gets this process's environment (fake credentials and region), Lambda's
    ``LAMBDA_TASK_ROOT`` (so a Powertools Tracer is enabled, as on Lambda) and ``environment``.
    """
    folder = LAMBDA_SRC / function
    completed = subprocess.run(
        [sys.executable, "-c", _CODE, str(folder)],
        env={
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": str(folder),
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
