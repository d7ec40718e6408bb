"""Import a handler in a fresh interpreter, as a cold start does: which modules it loaded, what the collector did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from handler_loader import LAMBDA_SRC

_CODE = """
import gc, json, sys
sys.path.insert(0, sys.argv[1])
import app
stats = {"full_collections": gc.get_stats()[2]["collections"], "collector_enabled": gc.isenabled()}
print(json.dumps({"modules": sorted(sys.modules), **stats}))
"""
# What Lambda's runtime ships for SnapStart hooks, as far as a handler's import needs it.
_SNAPSHOT_RESTORE_STUB = """
def register_after_restore(func, *args, **kwargs):
    pass


def register_before_snapshot(func, *args, **kwargs):
    pass
"""


@dataclass(frozen=True)
class ColdImport:
    modules: set[str]  # every module loaded once the handler is imported
    full_collections: int  # full (oldest generation) garbage collections the interpreter ran until then
    collector_enabled: bool  # whether automatic garbage collection is on once the import is done


def cold_import(function: str, environment: dict[str, str]) -> ColdImport:
    """Import ``lambda_src/<function>/app.py`` in a new interpreter and report what it loaded.

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
    report = json.loads(completed.stdout.splitlines()[-1])
    return ColdImport(
        modules=set(report["modules"]),
        full_collections=report["full_collections"],
        collector_enabled=report["collector_enabled"],
    )


def modules_after_import(function: str, environment: dict[str, str]) -> set[str]:
    """The modules loaded once ``lambda_src/<function>/app.py`` is imported in a new interpreter."""
    return cold_import(function, environment).modules
