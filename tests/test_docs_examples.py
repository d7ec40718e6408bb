"""Every Python example in the README and the docs runs and synthesizes clean under both nag packs.

The blocks of one page run in order in one namespace, as a reader pastes them, so a page may build
on its earlier blocks. Every ``App`` the examples make synthesizes into a temporary folder with the
AwsSolutions and Serverless packs registered, so an example that a user's nag-checked app would
reject fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk
import pytest
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def pages_with_examples() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [page for page in pages if _BLOCK.search(page.read_text())]


def examples(page: Path) -> list[str]:
    return _BLOCK.findall(page.read_text())


@pytest.fixture
def nagged_apps(monkeypatch, tmp_path) -> list:
    """Make every ``aws_cdk.App`` an app with both nag packs, synthesizing under ``tmp_path``."""
    made: list = []
    original = aws_cdk.App

    class NaggedApp(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("outdir", str(tmp_path / f"app{len(made)}"))
            super().__init__(*args, **kwargs)
            Validations.of(self).add_plugins(AwsSolutionsChecks(self), ServerlessChecks(self))
            made.append(self)

    monkeypatch.setattr(aws_cdk, "App", NaggedApp)
    monkeypatch.chdir(tmp_path)
    return made


@pytest.mark.parametrize("page", pages_with_examples(), ids=lambda page: page.relative_to(ROOT).as_posix())
def test_the_examples_of_a_page_run_and_synthesize_clean(page, nagged_apps):
    namespace: dict = {"__name__": "__main__"}
    for number, source in enumerate(examples(page), start=1):
        code = compile(source, f"{page.relative_to(ROOT)} example {number}", "exec")
        exec(code, namespace)
    assert nagged_apps, f"{page.name}: the examples make no App, so nothing of them was synthesized"
    for app in nagged_apps:
        app.synth()  # raises on an unacknowledged finding; a no-op for an app the example synthesized


def test_every_page_with_python_is_checked():
    # A sanity check of the block pattern: the README has examples, and a block is plain source.
    blocks = examples(ROOT / "README.md")
    assert blocks and all(not block.startswith("```") for block in blocks)
