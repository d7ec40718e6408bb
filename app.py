#!/usr/bin/env python3
"""The demo app: every demo stack, its alarms routed, checked by the rule sets of its profile.

Baseline (default): cdk-nag's AwsSolutions and Serverless packs. Strict (``make synth STRICT=1``,
i.e. ``-c serverless-patterns:compliance=strict``): also the NIST 800-53 R5, HIPAA Security and
PCI DSS 3.2.1 packs and AWS Control Tower's proactive controls.

``GlobalItemsDemo`` binds its two stacks to regions and an account: from the context
(``globalItemsDemo:*``), else the CLI's account, else the placeholder ``000000000000``, which
synthesizes but cannot deploy (docs/global-items-demo.md).
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks, ServerlessChecks

from patterns import route_alarms
from patterns.compliance import is_strict
from stacks import DEMO_STACKS

# The feature flags `cdk init` gives a new app of this CDK version, kept in cdk.json (where `cdk flags` reads
# and writes them). The CLI passes them to this app; in-process builds (tests, the benchmark) read the same
# file, so every synthesis of the demo app uses one set.
FEATURE_FLAGS: dict[str, Any] = json.loads((Path(__file__).resolve().parent / "cdk.json").read_text())["context"]


def build_app(outdir: str | None = None, context: Mapping[str, Any] | None = None) -> cdk.App:
    """Instantiate every demo stack, route every alarm to someone, register the profile's rule sets."""
    app = cdk.App(outdir=outdir, context={**FEATURE_FLAGS, **(context or {})})
    for name, stack_class in DEMO_STACKS.items():
        # Every entry is a Stack subclass built as (scope, id); their differing __init__s make the dict of `object`s.
        cast(type[cdk.Stack], stack_class)(app, name)
    # Each stack gets an encrypted AlarmTopic (e-mail from context alarmEmail or ALARM_EMAIL).
    route_alarms(app)
    register_rule_sets(app)
    return app


def register_rule_sets(app: cdk.App) -> None:
    """AwsSolutions and Serverless always; under the strict profile the compliance packs and Control Tower too."""
    plugins: list[cdk.IPolicyValidationPlugin] = [AwsSolutionsChecks(app), ServerlessChecks(app)]
    if is_strict(app):
        # Control Tower's proactive controls (CloudFormation Guard rules, run offline); a dev dependency.
        from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

        plugins += [
            NIST80053R5Checks(app),
            HIPAASecurityChecks(app),
            PCIDSS321Checks(app),
            # It implements IPolicyValidationPluginBeta1, the same interface under its earlier name.
            CfnGuardValidator(control_tower_rules_enabled=True),  # type: ignore[list-item]
        ]
    cdk.Validations.of(app).add_plugins(*plugins)


if __name__ == "__main__":
    build_app().synth()
