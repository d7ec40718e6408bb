"""The distribution another CDK app installs: the package, its type hints and its handlers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("patterns", "lambda_src"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    # A stray bytecode file must not reach the wheel.
    (source / "lambda_src" / "event_recorder" / "__pycache__").mkdir()
    (source / "lambda_src" / "event_recorder" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source)],
        check=True,
    )
    (built,) = dist.glob("serverless_patterns-*.whl")
    return built


def test_wheel_holds_the_package_its_type_marker_and_every_bundled_handler(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "patterns/__init__.py" in names
    assert "patterns/py.typed" in names
    handlers = sorted(p.parent.name for p in (ROOT / "lambda_src").glob("*/app.py"))
    assert handlers, "no bundled handlers found"
    for handler in handlers:
        assert f"patterns/lambda_src/{handler}/app.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/")]


def test_installed_package_finds_its_bundled_handlers(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True
    )
    probe = (
        "import patterns, pathlib;"
        "from patterns.blocks import bundled_handler_dir;"
        "print(patterns.__file__);"
        "print(bundled_handler_dir('event_recorder'))"
    )
    # Run from an empty folder so the checkout's own `patterns` cannot be imported instead.
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        check=True,
        capture_output=True,
        text=True,
    )
    package_file, handler_dir = result.stdout.split()
    assert Path(package_file).is_relative_to(target)
    assert Path(handler_dir) == target / "patterns" / "lambda_src" / "event_recorder"
