"""The CI workflow a team can use as is: valid for GitHub, the README's test command, every claimed Python."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    # The GitHub workflow schema is vendored in check-jsonschema: no network.
    command = [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(command, capture_output=True, text=True)


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_workflow_passes_the_github_workflow_schema() -> None:
    result = _validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    steps:\n      - run: make test\n")  # no runs-on
    assert _validate(broken).returncode != 0


def test_every_claimed_python_is_in_the_matrix_and_in_make_test_all(workflow: dict) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    claimed = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    minimum = re.search(r'requires-python = ">=(3\.\d+)"', pyproject)
    assert claimed and minimum and claimed[0] == minimum[1]
    assert workflow["jobs"]["test"]["strategy"]["matrix"]["python"] == claimed
    assert "CLAIMED = re.findall" in (ROOT / "noxfile.py").read_text()  # make test-all reads the same classifiers


def test_ci_runs_the_readme_test_command_and_builds_the_docs(workflow: dict) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test " in readme and "make test" in (ROOT / ".ci" / "run").read_text()
    runs = {name: [step.get("run") for step in job["steps"] if "run" in step] for name, job in workflow["jobs"].items()}
    assert runs == {"test": ["make test"], "docs": ["make docs"]}
    caches = [step["with"] for job in workflow["jobs"].values() for step in job["steps"] if "with" in step]
    assert any(cache.get("cache") == "pip" for cache in caches)
    assert any(cache.get("path") == "~/.npm" for cache in caches)
