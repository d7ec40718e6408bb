"""Locate the handlers shipped with the library (``lambda_src/<function>/``)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Installed wheels carry the handlers inside the package; a source checkout keeps them beside it.
_CANDIDATES = (_PACKAGE_DIR / "lambda_src", _PACKAGE_DIR.parent / "lambda_src")

#: Files that never belong in a function's asset (they would also make its hash unstable).
ASSET_EXCLUDES = ["__pycache__", "*.pyc", ".pytest_cache", "*.dist-info"]


def bundled_handler_dir(function: str) -> Path:
    """The folder holding the bundled handler ``function``."""
    for root in _CANDIDATES:
        folder = root / function
        if folder.is_dir():
            return folder
    raise ValueError(f"no bundled handler named {function!r} (looked in {', '.join(map(str, _CANDIDATES))})")


def bundled_code(function: str) -> lambda_.Code:
    """Asset code holding only ``lambda_src/<function>/``."""
    return lambda_.Code.from_asset(str(bundled_handler_dir(function)), exclude=ASSET_EXCLUDES)
