"""The distribution another CDK app installs: the package, its type hints and its handlers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
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
    # What `make dist` runs: the sdist first, then the wheel built from the sdist (so the sdist holds all it needs).
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("serverless_patterns-*.whl")
    return built


def test_sdist_and_wheel_pass_twine_check(wheel):
    distributions = sorted(str(path) for path in wheel.parent.iterdir())
    assert sorted(Path(path).suffix for path in distributions) == [".gz", ".whl"]
    subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *distributions], check=True, capture_output=True
    )


def test_wheel_holds_the_package_its_type_marker_and_every_bundled_handler(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "patterns/__init__.py" in names
    assert "patterns/py.typed" in names
    # Every subpackage (setuptools' packages list names each one).
    for init in (ROOT / "patterns").rglob("__init__.py"):
        assert f"patterns/{init.relative_to(ROOT / 'patterns').as_posix()}" in names
    handlers = sorted(p.parent.name for p in (ROOT / "lambda_src").glob("*/app.py"))
    assert handlers, "no bundled handlers found"
    for handler in handlers:
        assert f"patterns/lambda_src/{handler}/app.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/")]


def test_the_readme_git_url_installs_the_committed_package_with_its_handlers(tmp_path):
    # The README's line for a clone with no remote: pip clones the repository at a commit and builds it.
    repository = tmp_path / "repository"
    subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(repository)], check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repository, check=True, capture_output=True, text=True
    ).stdout.strip()
    target = tmp_path / "site"
    requirement = f"git+file://{repository}@{commit}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--target",
            str(target),
            requirement,
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "patterns" / "py.typed").is_file()
    assert sorted(p.parent.name for p in (target / "patterns" / "lambda_src").glob("*/app.py")) == sorted(
        p.parent.name for p in (repository / "lambda_src").glob("*/app.py")
    )


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


def _content_hash(wheel: Path) -> str:
    """Hash of what the wheel holds and of the pins it installs with (not of its zip timestamps)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode())
            digest.update(archive.read(name))
    digest.update((ROOT / "constraints.txt").read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="module")
def consumer_venv(wheel) -> Path:
    """A fresh venv outside the repository with the wheel and its dependencies installed by pip.

    Kept per wheel content (in the system's temporary folder), so a run that changed nothing in the
    package reuses it instead of installing aws-cdk-lib again.
    """
    venv = Path(tempfile.gettempdir()) / "serverless-patterns-consumer" / _content_hash(wheel)
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    if not ready.exists():
        for stale in venv.parent.glob("*"):  # venvs of earlier package contents
            shutil.rmtree(stale, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--no-compile",
                "-c",
                str(ROOT / "constraints.txt"),
                str(wheel),
            ],
            check=True,
        )
        ready.touch()
    return venv


def test_a_consumer_app_synthesizes_from_the_installed_wheel_with_both_nag_packs(consumer_venv, tmp_path):
    app_dir = tmp_path / "consumer"
    app_dir.mkdir()
    shutil.copy(ROOT / "tests" / "consumer_app" / "app.py", app_dir / "app.py")
    # Only Node.js comes from this project's toolchain (jsii needs Node 22+ on PATH); no Python path help.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [str(consumer_venv / "bin" / "python"), "app.py", str(tmp_path / "cdk.out")],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(summary["patterns"]).is_relative_to(consumer_venv)
    assert summary["stacks"] == ["ConsumerData", "ConsumerService"]
    assert summary["resources"] > 100


def test_an_installed_wheel_without_the_pillow_cache_names_the_command_that_fills_it(consumer_venv, tmp_path):
    probe = (
        "import aws_cdk as cdk\n"
        "from patterns import ObjectPipeline\n"
        "ObjectPipeline(cdk.Stack(cdk.App(), 'S'), 'Images')\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SERVERLESS_PATTERNS_CACHE"] = str(tmp_path / "empty-cache")
    result = subprocess.run(
        [str(consumer_venv / "bin" / "python"), "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("patterns.pillow_cache.PillowLayerMissing:")
    assert "Fetch it once (pinned, hash-checked) with: python -m patterns.pillow_cache" in last_line
