"""Read what the rule sets of the strict compliance profile found in a synthesized app."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import App
from nag_check import rule_set_reports

#: The plugin names the six rule sets of the strict profile report under.
RULE_SETS = (
    "AwsSolutions",
    "Serverless",
    "NIST.800.53.R5",
    "HIPAA.Security",
    "PCI.DSS.321",
    "cdk-validator-cfnguard",
)


def rule_set_findings(outdir: Path) -> dict[str, list[tuple[str, str]]]:
    """(rule, construct path) of every unacknowledged finding, by rule set, from the validation report."""
    path = Path(outdir) / "validation-report.json"
    report = json.loads(path.read_text()) if path.exists() else {"pluginReports": []}
    return {
        plugin["pluginName"]: [
            (violation["ruleName"], construct.get("constructPath", ""))
            for violation in plugin.get("violations", [])
            for construct in violation.get("violatingConstructs", [])
        ]
        for plugin in rule_set_reports(report)
    }


def synth_findings(app: App) -> dict[str, list[tuple[str, str]]]:
    """Synthesize ``app`` (findings make synth raise; that is expected here) and return its findings."""
    try:
        app.synth()
    except RuntimeError as failure:
        if "Validation failed" not in str(failure) and "ValidationFailed" not in str(failure):
            raise
    return rule_set_findings(Path(app.outdir))


def strict_app(outdir: Path) -> App:
    """An empty app under the strict profile with its six rule sets registered (add stacks, then synth)."""
    from app import FEATURE_FLAGS, register_rule_sets
    from patterns.compliance import COMPLIANCE_CONTEXT

    app = App(outdir=str(outdir), context={**FEATURE_FLAGS, COMPLIANCE_CONTEXT: "strict"})
    register_rule_sets(app)
    return app


def findings_under(findings: dict[str, list[tuple[str, str]]], path: str) -> list[tuple[str, str, str]]:
    """(rule set, rule, construct path) of every finding under ``path``, and of every finding the report
    could not place on a construct (no path): it may be that construct's too."""
    return [
        (rule_set, rule, where)
        for rule_set, found in findings.items()
        for rule, where in found
        if where.startswith(path) or not where
    ]
