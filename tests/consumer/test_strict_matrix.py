"""The consumer matrix under the strict compliance profile: every public construct bound to an account
and region in a stage and in a nested stack, with its alarms routed, clean under
all six rule sets (AwsSolutions, Serverless, NIST 800-53 R5, HIPAA Security, PCI DSS 3.2.1, Control
Tower's proactive controls). The env-agnostic case is the demo app's (tests/test_strict_profile.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import Environment, Stack, Stage
from strict_check import RULE_SETS, rule_set_findings, strict_app, synth_findings
from synth_once import synthesized_once

from consumer.matrix import ACCOUNT, BOUND, EveryConstructStack, NestedEveryConstruct
from patterns import route_alarms


def _synthesize_strict_matrix(outdir: Path) -> None:
    # Bound to an account and region in both: in a stage, and in a nested stack (the plain env-bound case is
    # the demo app's, and the per-pattern strict tests build each construct bound and env-agnostic).
    app = strict_app(outdir)
    stage = Stage(app, "StrictProd", env=Environment(account=ACCOUNT, region="us-east-1"))
    EveryConstructStack(stage, "Service")
    NestedEveryConstruct(Stack(app, "StrictNestedParent", env=BOUND), "Nested")
    route_alarms(app)
    synth_findings(app)


@pytest.fixture(scope="session")
def strict_matrix_findings(tmp_path_factory) -> dict[str, list[tuple[str, str]]]:
    outdir, _ = synthesized_once(tmp_path_factory, "strict-matrix", _synthesize_strict_matrix)
    return rule_set_findings(outdir)


def test_every_rule_set_ran(strict_matrix_findings):
    assert set(strict_matrix_findings) >= set(RULE_SETS)


@pytest.mark.parametrize("rule_set", RULE_SETS)
def test_every_construct_is_clean_under_strict_in_every_setup(strict_matrix_findings, rule_set):
    assert strict_matrix_findings[rule_set] == []
