"""The demo app under the strict compliance profile: clean under all six rule sets.

``make synth STRICT=1`` synthesizes the same app: AwsSolutions and Serverless as always, plus the NIST
800-53 R5, HIPAA Security and PCI DSS 3.2.1 packs and AWS Control Tower's proactive controls.
"""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from stacks import DEMO_STACKS
from strict_check import RULE_SETS, rule_set_findings
from test_demo_app import CFN_LINT_IGNORED


@pytest.fixture(scope="module")
def strict_findings(strict_demo_app) -> dict[str, list[tuple[str, str]]]:
    return rule_set_findings(strict_demo_app.outdir)


def test_every_rule_set_ran(strict_findings):
    assert set(strict_findings) >= set(RULE_SETS)


@pytest.mark.parametrize("rule_set", RULE_SETS)
def test_no_unacknowledged_finding(strict_findings, rule_set):
    assert strict_findings[rule_set] == []


@pytest.mark.parametrize("stack_name", sorted(DEMO_STACKS))
def test_cfn_lint_finds_nothing_under_strict(strict_demo_app, stack_name):
    template = json.dumps(strict_demo_app.template(stack_name))
    config = ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=sorted(CFN_LINT_IGNORED))
    assert [str(match) for match in lint(template, config=config)] == []
