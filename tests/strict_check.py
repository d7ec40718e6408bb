"""Synthesize an app under the strict compliance profile with all six rule sets and read what they found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks, ServerlessChecks
from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

from patterns.compliance import COMPLIANCE_CONTEXT

#: The plugin names the six rule sets report under.
RULE_SETS = (
    "AwsSolutions",
    "Serverless",
    "NIST.800.53.R5",
    "HIPAA.Security",
    "PCI.DSS.321",
    "cdk-validator-cfnguard",
)


def strict_app(outdir: Path, context: Optional[Mapping[str, Any]] = None) -> App:
    """An app under the strict profile with the cdk-nag packs and Control Tower's Guard rules registered."""
    app = App(
        outdir=str(outdir),
        context={COMPLIANCE_CONTEXT: "strict", **(context or {})},
        policy_validation_beta1=[CfnGuardValidator(control_tower_rules_enabled=True)],
    )
    register_compliance_packs(app)
    return app


def register_compliance_packs(app: App) -> None:
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app), ServerlessChecks(app), NIST80053R5Checks(app), HIPAASecurityChecks(app), PCIDSS321Checks(app)
    )


def rule_set_findings(outdir: Path) -> dict[str, list[tuple[str, str]]]:
    """(rule, construct path) of every unacknowledged finding, by rule set, from the validation report."""
    path = Path(outdir) / "validation-report.json"
    report = json.loads(path.read_text()) if path.exists() else {"pluginReports": []}
    found: dict[str, list[tuple[str, str]]] = {}
    for plugin in report["pluginReports"]:
        found[plugin["pluginName"]] = [
            (violation["ruleName"], construct.get("constructPath", ""))
            for violation in plugin.get("violations", [])
            for construct in violation.get("violatingConstructs", [])
        ]
    return found


def synth_findings(app: App) -> dict[str, list[tuple[str, str]]]:
    """Synthesize ``app`` (findings make synth raise; that is expected here) and return its findings."""
    try:
        app.synth()
    except RuntimeError as failure:
        if "Validation failed" not in str(failure) and "ValidationFailed" not in str(failure):
            raise
    return rule_set_findings(Path(app.outdir))
