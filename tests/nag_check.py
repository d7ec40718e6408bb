"""Run the cdk-nag packs on an app in a test and return what they found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

#: With the flag `@aws-cdk/core:annotationsInValidationReport` (the demo app sets it), construct warnings join the
#: validation report as a plugin of their own; the rule sets are every other plugin.
ANNOTATIONS_PLUGIN = "Construct Annotations"


def rule_set_reports(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's plugin reports of the rule sets (cdk-nag packs, Guard), without construct annotations."""
    return [plugin for plugin in report.get("pluginReports", []) if plugin["pluginName"] != ANNOTATIONS_PLUGIN]


def nag_app(outdir: Path) -> App:
    """An app with both nag packs registered, synthesizing into ``outdir``."""
    app = App(outdir=str(outdir))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app


def nag_findings(app: App) -> dict[str, list[tuple[str, str]]]:
    """Synthesize ``app``; return ``{"violations": [...], "acknowledged": [...]}`` as (rule, path) pairs."""
    try:
        app.synth()
    except RuntimeError as failure:
        if "ValidationFailed" not in str(failure):
            raise
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    found: dict[str, list[tuple[str, str]]] = {"violations": [], "acknowledged": []}
    for plugin in rule_set_reports(report):
        for key, label in (("violations", "violations"), ("suppressedViolations", "acknowledged")):
            for violation in plugin.get(key, []):
                for construct in violation["violatingConstructs"]:
                    found[label].append((violation["ruleName"], construct["constructPath"]))
    return found


def acknowledgements_made(outdir: Path, stack: str = "*") -> set[tuple[str, str]]:
    """(construct path, acknowledgement id) of every acknowledgement in the metadata of ``stack`` (all stacks by default)."""
    return {
        (path.lstrip("/"), ack_id)
        for metadata in Path(outdir).glob(f"{stack}.metadata.json")
        for path, entries in json.loads(metadata.read_text()).items()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for ack_id in entry["data"]
    }


def acknowledgements_used(outdir: Path) -> set[tuple[str, str]]:
    """(construct path, acknowledgement id) of every acknowledgement that silenced a finding of the report."""
    report = json.loads((Path(outdir) / "validation-report.json").read_text())
    return {
        (violation["acknowledgedAt"], violation["acknowledgedId"])
        for plugin in rule_set_reports(report)
        for violation in plugin.get("suppressedViolations", [])
    }
