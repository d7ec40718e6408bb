"""The Powertools layer ARN and pin, and the bundled handlers' assets (only the handler's own files)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aws_cdk import App, AssetStaging, Environment, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

import patterns.blocks.assets as assets
from patterns.blocks import (
    POWERTOOLS_LAYER_CONTEXT,
    POWERTOOLS_VERSION,
    SecureFunction,
    bundled_code,
    bundled_handler_dir,
    powertools_layer_arn,
    powertools_layer_parameter,
)

ROOT = Path(__file__).resolve().parents[2]


def new_stack() -> Stack:
    return Stack(App(), "Test")


def regional_stack() -> Stack:
    return Stack(App(), "Test", env=Environment(account="123456789012", region="eu-central-1"))


# --- Powertools -----------------------------------------------------------------------------


def test_layer_is_resolved_from_the_pinned_releases_public_ssm_parameter():
    assert powertools_layer_parameter(lambda_.Runtime.PYTHON_3_14, lambda_.Architecture.ARM_64) == (
        f"/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_VERSION}"
    )
    arn = powertools_layer_arn(lambda_.Runtime.PYTHON_3_14, lambda_.Architecture.ARM_64)
    assert new_stack().resolve(arn) == (
        f"{{{{resolve:ssm:/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_VERSION}}}}}"
    )


def test_layer_parameter_follows_runtime_and_architecture():
    parameter = powertools_layer_parameter(lambda_.Runtime.PYTHON_3_12, lambda_.Architecture.X86_64)
    assert parameter.startswith("/aws/service/powertools/python/x86_64/python3.12/")


def test_layer_refuses_a_non_python_runtime():
    with pytest.raises(ValueError, match=r"needs a Python runtime, got nodejs22\.x"):
        powertools_layer_parameter(lambda_.Runtime.NODEJS_22_X, lambda_.Architecture.ARM_64)


def test_layer_carries_the_powertools_version_the_tests_pin():
    requirements = (ROOT / "requirements-dev.txt").read_text()
    pins = re.findall(r"^aws-lambda-powertools(?:\[[^\]]*\])?==(\S+)", requirements, flags=re.MULTILINE)
    assert pins == [POWERTOOLS_VERSION]


CHINA_LAYER = "arn:aws-cn:lambda:cn-north-1:123456789012:layer:PowertoolsPython:7"


def test_a_context_layer_arn_replaces_the_public_layer_for_every_function_under_the_scope():
    stack = Stack(App(), "China", env=Environment(account="123456789012", region="cn-north-1"))
    stack.node.set_context(POWERTOOLS_LAYER_CONTEXT, CHINA_LAYER)
    SecureFunction(stack, "Fn", code=bundled_code("hello"))
    (function,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    assert function["Properties"]["Layers"] == [CHINA_LAYER]


@pytest.mark.parametrize("value", ["", "PowertoolsPython:7", "arn:aws-cn:lambda:cn-north-1:123456789012:function:x", 7])
def test_a_context_layer_that_is_not_a_layer_arn_is_refused(value):
    stack = new_stack()
    stack.node.set_context(POWERTOOLS_LAYER_CONTEXT, value)
    with pytest.raises(ValueError, match=f"context {POWERTOOLS_LAYER_CONTEXT} must be a Lambda layer version ARN"):
        SecureFunction(stack, "Fn", code=bundled_code("hello"))


# --- bundled handlers -----------------------------------------------------------------------


def test_bundled_handler_dir_holds_the_handler_module():
    folder = bundled_handler_dir("event_recorder")
    assert folder == ROOT / "lambda_src" / "event_recorder"
    assert (folder / "app.py").is_file()


def test_unknown_bundled_handler_raises():
    with pytest.raises(ValueError, match="no bundled handler named 'no_such_handler'"):
        bundled_handler_dir("no_such_handler")


def test_unknown_bundled_code_raises():
    with pytest.raises(ValueError, match="no bundled handler named 'no_such_handler'"):
        bundled_code("no_such_handler")


def staged_files(outdir: Path, template: Template) -> set[str]:
    """Files of the one function's asset as staged in ``outdir`` (what gets zipped and uploaded)."""
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    staged = outdir / f"asset.{asset_hash}"
    assert staged.is_dir(), f"no staged asset at {staged}"
    return {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}


def synth_bundled(outdir: Path, name: str) -> tuple[Template, set[str]]:
    stack = Stack(App(outdir=str(outdir)), "Assets")
    SecureFunction(stack, "Fn", code=bundled_code(name))
    template = Template.from_stack(stack)
    return template, staged_files(outdir, template)


def is_bytecode(path: Path) -> bool:
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def test_event_recorder_asset_holds_its_own_sources_and_no_bytecode(tmp_path):
    source = bundled_handler_dir("event_recorder")
    expected = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file() and not is_bytecode(p)}
    _, staged = synth_bundled(tmp_path, "event_recorder")
    assert "app.py" in staged
    assert staged == expected


@pytest.fixture
def handler_with_build_litter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bundled handler ``litter`` whose folder also holds bytecode and installed-package metadata."""
    root = tmp_path / "lambda_src"
    folder = root / "litter"
    (folder / "helpers" / "__pycache__").mkdir(parents=True)
    (folder / "__pycache__").mkdir()
    (folder / "boto3-1.0.dist-info").mkdir()
    (folder / "app.py").write_text("def handler(event, context):\n    return None\n")
    (folder / "helpers" / "__init__.py").write_text("")
    (folder / "__pycache__" / "app.cpython-314.pyc").write_bytes(b"\x00bytecode")
    (folder / "helpers" / "__pycache__" / "__init__.cpython-314.pyc").write_bytes(b"\x00bytecode")
    (folder / "stray.pyc").write_bytes(b"\x00bytecode")
    (folder / "boto3-1.0.dist-info" / "METADATA").write_text("Name: boto3\n")
    monkeypatch.setattr(assets, "_CANDIDATES", (root,))
    return folder


def test_asset_leaves_out_bytecode_and_package_metadata(handler_with_build_litter, tmp_path):
    _, staged = synth_bundled(tmp_path / "out", "litter")
    assert staged == {"app.py", "helpers/__init__.py"}


def test_asset_hash_ignores_bytecode_but_not_sources(handler_with_build_litter, tmp_path):
    before, _ = synth_bundled(tmp_path / "first", "litter")
    (handler_with_build_litter / "__pycache__" / "other.cpython-314.pyc").write_bytes(b"\x01more")
    AssetStaging.clear_asset_hash_cache()  # or the second synth would reuse the first hash
    after_bytecode, _ = synth_bundled(tmp_path / "second", "litter")
    (handler_with_build_litter / "app.py").write_text("def handler(event, context):\n    return 1\n")
    AssetStaging.clear_asset_hash_cache()
    after_source, _ = synth_bundled(tmp_path / "third", "litter")

    def key(template: Template) -> str:
        (function,) = template.find_resources("AWS::Lambda::Function").values()
        return function["Properties"]["Code"]["S3Key"]

    assert key(after_bytecode) == key(before)
    assert key(after_source) != key(before)
