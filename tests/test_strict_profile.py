"""The demo app under the strict compliance profile: clean under all six rule sets.

``make synth STRICT=1`` synthesizes the same app: AwsSolutions and Serverless as always, plus the NIST
800-53 R5, HIPAA Security and PCI DSS 3.2.1 packs and AWS Control Tower's proactive controls.
"""

from __future__ import annotations

import pytest

from strict_check import RULE_SETS, rule_set_findings


@pytest.fixture(scope="module")
def strict_findings(strict_demo_app) -> dict[str, list[tuple[str, str]]]:
    return rule_set_findings(strict_demo_app.outdir)


def test_every_rule_set_ran(strict_findings):
    assert set(strict_findings) >= set(RULE_SETS)


@pytest.mark.parametrize("rule_set", RULE_SETS)
def test_no_unacknowledged_finding(strict_findings, rule_set):
    assert strict_findings[rule_set] == []
