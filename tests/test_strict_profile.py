"""The demo app under the strict compliance profile: clean under all six rule sets.

``make synth STRICT=1`` synthesizes the same app: AwsSolutions and Serverless as always, plus the NIST
800-53 R5, HIPAA Security and PCI DSS 3.2.1 packs and AWS Control Tower's proactive controls.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint
from strict_check import RULE_SETS, rule_set_findings
from test_demo_app import CFN_LINT_IGNORED

from stacks import DEMO_STACKS, EXTRA_DEMO_STACKS

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def strict_findings(strict_demo_app) -> dict[str, list[tuple[str, str]]]:
    return rule_set_findings(strict_demo_app.outdir)


def test_every_rule_set_ran(strict_findings):
    assert set(strict_findings) >= set(RULE_SETS)


@pytest.mark.parametrize("rule_set", RULE_SETS)
def test_no_unacknowledged_finding(strict_findings, rule_set):
    assert strict_findings[rule_set] == []


@pytest.mark.parametrize("stack_name", sorted([*DEMO_STACKS, *EXTRA_DEMO_STACKS]))
def test_cfn_lint_finds_nothing_under_strict(strict_demo_app, stack_name):
    template = json.dumps(strict_demo_app.template(stack_name))
    config = ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=sorted(CFN_LINT_IGNORED))
    assert [str(match) for match in lint(template, config=config)] == []


def test_the_documented_total_reservation_is_what_the_strict_demo_app_reserves(strict_demo_app):
    # Lambda refuses a reservation that leaves less than 100 of the account's quota unreserved, and
    # new accounts start with a reduced quota: the docs tell users what to ask for.
    reserved = sum(
        resource["Properties"].get("ReservedConcurrentExecutions", 0)
        for stack_name in DEMO_STACKS
        for resource in strict_demo_app.template(stack_name)["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    )
    compliance = (DOCS / "compliance.md").read_text()
    building_blocks = (DOCS / "building-blocks.md").read_text()
    documented = r"The\s+strict\s+demo\s+app\s+reserves\s+(\d+)\s+concurrent\s+executions"
    assert re.search(documented, compliance).group(1) == str(reserved)
    assert re.search(documented, building_blocks).group(1) == str(reserved)
    assert re.search(rf"the\s+quota\s+is\s+at\s+least\s+{reserved + 100}\b", compliance)


def test_every_strict_demo_function_reserves_concurrency(strict_demo_app):
    for stack_name in DEMO_STACKS:
        for resource in strict_demo_app.template(stack_name)["Resources"].values():
            if resource["Type"] == "AWS::Lambda::Function":
                assert resource["Properties"]["ReservedConcurrentExecutions"] >= 1
