"""What the image processor's cold start loads: Pillow and the S3 client on first use, at init under SnapStart.

``imaging`` and ``app`` say why (their module docstrings); the processing itself is in
test_image_processor.py.
"""

from __future__ import annotations

import importlib.util

import pytest
from fresh_import import modules_after_import
from handler_loader import LAMBDA_SRC

ENVIRONMENT = {"OUTPUT_BUCKET": "renditions", "TABLE_NAME": "objects", "POWERTOOLS_SERVICE_NAME": "images"}


def pillow_modules(loaded: set[str]) -> set[str]:
    return {name for name in loaded if name == "PIL" or name.startswith("PIL.")}


@pytest.mark.parametrize("initialization_type", ["on-demand", "provisioned-concurrency"])
def test_a_cold_start_does_not_import_pillow(initialization_type):
    loaded = modules_after_import(
        "image_processor", {**ENVIRONMENT, "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type}
    )
    assert "imaging" in loaded
    assert pillow_modules(loaded) == set()


def test_a_snap_start_init_imports_pillow_with_its_format_plugins():
    loaded = modules_after_import("image_processor", {**ENVIRONMENT, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    assert {"PIL.Image", "PIL.ImageOps", "PIL.JpegImagePlugin", "PIL.PngImagePlugin", "PIL.WebPImagePlugin"} <= (
        pillow_modules(loaded)
    )


def test_without_pillow_the_cold_start_fails_and_names_the_layer(monkeypatch):
    """Pillow is imported on first use, but a missing layer still fails init, not every object."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *rest: None if name == "PIL" else find_spec(name, *rest)
    )
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    spec = importlib.util.spec_from_file_location(
        "imaging_without_pillow", LAMBDA_SRC / "image_processor" / "imaging.py"
    )
    assert spec is not None and spec.loader is not None
    with pytest.raises(ImportError, match="Pillow layer"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
