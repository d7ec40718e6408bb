"""Every demo stack: snapshot, cdk-nag (zero unacknowledged findings), cfn-lint."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint
from nag_check import ANNOTATIONS_PLUGIN
from syrupy.extensions.json import JSONSnapshotExtension

from patterns.testing import normalized_template
from stacks import DEMO_STACKS, EXTRA_DEMO_STACKS

STACKS = sorted([*DEMO_STACKS, *EXTRA_DEMO_STACKS])

#: cfn-lint rules switched off, each with the reason it does not apply.
CFN_LINT_IGNORED = {
    "W3005": "aws-cdk-lib's lambda.Function always adds DependsOn on its execution role, which "
    "the template also references with GetAtt; the duplicate ordering is redundant, not wrong.",
}


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack_name", STACKS)
def test_template_matches_snapshot(demo_app, stack_name, snapshot_json):
    assert normalized_template(demo_app.template(stack_name)) == snapshot_json


def test_synth_passes_the_nag_packs(demo_app):
    assert demo_app.error is None, demo_app.error


UNSUBSCRIBED_ALARM_TOPIC = "Annotation::serverless-patterns:alarm-topic-without-subscriber"


def _findings(report: dict, key: str, stack_name: str, annotations: bool = False) -> list[dict]:
    found = []
    for plugin in report.get("pluginReports", []):
        if (plugin["pluginName"] == ANNOTATIONS_PLUGIN) != annotations:
            continue
        for violation in plugin.get(key, []):
            paths = [c["constructPath"] for c in violation["violatingConstructs"]]
            if any(path.split("/")[0] == stack_name for path in paths):
                found.append({"plugin": plugin["pluginName"], **violation})
    return found


@pytest.mark.parametrize("stack_name", STACKS)
def test_no_unacknowledged_nag_findings(demo_app, stack_name):
    report = demo_app.validation_report()
    assert {p["pluginName"] for p in report["pluginReports"]} >= {"AwsSolutions", "Serverless"}
    violations = _findings(report, "violations", stack_name)
    assert violations == [], json.dumps(violations, indent=2)


GLOBAL_DEMO_PLACEHOLDERS = "Annotation::globalItemsDemo:placeholders"


@pytest.mark.parametrize("stack_name", STACKS)
def test_the_only_warnings_are_the_demo_settings_left_to_the_user(demo_app, stack_name):
    # The demo app sets no alarmEmail, so each stack warns once that its AlarmTopic has no subscriber, and the
    # global demo's stacks that their account and hosted zone are placeholders; nothing else.
    warnings = _findings(demo_app.validation_report(), "violations", stack_name, annotations=True)
    expected = [UNSUBSCRIBED_ALARM_TOPIC] + (
        [GLOBAL_DEMO_PLACEHOLDERS] if stack_name.startswith("GlobalItemsDemo") else []
    )
    assert sorted((w["ruleName"], w["severity"]) for w in warnings) == sorted((rule, "warning") for rule in expected)


@pytest.mark.parametrize("stack_name", STACKS)
def test_every_acknowledgement_has_a_reason(demo_app, stack_name):
    for finding in _findings(demo_app.validation_report(), "suppressedViolations", stack_name):
        assert len(finding["reason"].strip()) >= 10, finding


@pytest.mark.parametrize("stack_name", STACKS)
def test_every_acknowledgement_silences_a_real_finding(demo_app, stack_name):
    """An acknowledgement that matches no finding is stale: it must go, not linger as a blanket."""
    made = set()
    metadata = json.loads((demo_app.outdir / f"{stack_name}.metadata.json").read_text())
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == "aws:cdk:acknowledged-rules":
                made.update((path.lstrip("/"), ack_id) for ack_id in entry["data"])
    used = {
        (finding["acknowledgedAt"], finding["acknowledgedId"])
        for finding in _findings(demo_app.validation_report(), "suppressedViolations", stack_name)
    }
    assert made, "expected the stack to carry acknowledgements"
    assert made - used == set()


@pytest.mark.parametrize("stack_name", STACKS)
def test_cfn_lint_finds_nothing(demo_app, stack_name):
    template = json.dumps(demo_app.template(stack_name))
    config = ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=sorted(CFN_LINT_IGNORED))
    matches = lint(template, config=config)
    assert [str(match) for match in matches] == []
