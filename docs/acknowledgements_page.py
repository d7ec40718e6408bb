"""The cdk-nag acknowledgements page of the docs: every acknowledgement of the demo stacks, with its reason.

Read from the synthesized assembly (each stack's ``aws:cdk:acknowledged-rules`` metadata and the validation
report's suppressed findings) by ``docs/generate.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path


def acknowledgements(assembly: Path, stacks: list[str]) -> list[tuple[str, str, str, str]]:
    """(stack, construct path, acknowledgement id, reason) of every acknowledgement, sorted.

    Read from the ``aws:cdk:acknowledged-rules`` metadata of each stack, completed by the
    suppressed findings of the validation report (which name the same acknowledgements).
    """
    found: set[tuple[str, str, str, str]] = set()
    for stack in stacks:
        metadata_file = assembly / f"{stack}.metadata.json"
        metadata = json.loads(metadata_file.read_text()) if metadata_file.exists() else {}
        for path, entries in metadata.items():
            for entry in entries:
                if entry.get("type") == "aws:cdk:acknowledged-rules":
                    for ack_id, reason in entry["data"].items():
                        found.add(_acknowledgement(path, ack_id, reason))
    report_path = assembly / "validation-report.json"
    if report_path.exists():
        for plugin in json.loads(report_path.read_text()).get("pluginReports", []):
            for finding in plugin.get("suppressedViolations", []):
                if finding.get("acknowledgedAt", "").split("/")[0] in stacks:
                    found.add(_acknowledgement(finding["acknowledgedAt"], finding["acknowledgedId"], finding["reason"]))
    return sorted(found)


def _acknowledgement(path: str, ack_id: str, reason: str) -> tuple[str, str, str, str]:
    stack, _, below = path.strip("/").partition("/")
    return stack, below, ack_id.removeprefix("annotation::").removeprefix("Annotation::"), " ".join(reason.split())


#: The rule set each acknowledgement id prefix belongs to, as the docs name it.
RULE_SET_NAMES = {
    "AwsSolutions": "AwsSolutions",
    "Serverless": "Serverless",
    "NIST.800.53.R5": "NIST 800-53 R5",
    "HIPAA.Security": "HIPAA Security",
    "PCI.DSS.321": "PCI DSS 3.2.1",
    "cdk-validator-cfnguard": "Control Tower",
}


def _rule_set_and_rule(ack_id: str) -> tuple[str, str]:
    plugin, separator, rule = ack_id.partition("::")
    if not separator:
        return "", ack_id
    return RULE_SET_NAMES.get(plugin, plugin), rule


def _markdown_cell(text: str) -> str:
    return re.sub(r"([\\`*_\[\]|<>])", r"\\\1", text)


def acknowledgements_page(
    baseline: list[tuple[str, str, str, str]], strict: list[tuple[str, str, str, str]] | None, header: str
) -> str:
    """One table per stack; the Profile column says whether the strict profile alone makes a row."""
    rows = dict.fromkeys(baseline, "both")
    for row in strict or []:
        rows.setdefault(row, "strict")
    lines = [header.rstrip("\n")]
    for stack in sorted({row[0] for row in rows}):
        lines += [
            "",
            f"### {stack}",
            "",
            "| Construct path | Rule set | Rule | Profile | Reason |",
            "| --- | --- | --- | --- | --- |",
        ]
        for (_, path, ack_id, reason), profile in sorted(item for item in rows.items() if item[0][0] == stack):
            rule_set, rule = _rule_set_and_rule(ack_id)
            lines.append(f"| `{path}` | {rule_set} | `{rule}` | {profile} | {_markdown_cell(reason)} |")
    return "\n".join(lines) + "\n"
