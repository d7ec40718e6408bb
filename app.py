#!/usr/bin/env python3
"""The demo app: every demo stack, its alarms routed, checked by the rule sets of its profile.

Baseline (default): cdk-nag's AwsSolutions and Serverless packs. Strict (``make synth STRICT=1``,
i.e. ``-c serverless-patterns:compliance=strict``): also the NIST 800-53 R5, HIPAA Security and
PCI DSS 3.2.1 packs and AWS Control Tower's proactive controls.

``GlobalItemsDemo`` binds its two stacks to regions and an account: from the context
(``globalItemsDemo:*``), else the CLI's account, else the placeholder ``000000000000``, which
synthesizes but cannot deploy (docs/global-items-demo.md).
"""

from typing import Any, Mapping, Optional

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks, ServerlessChecks

from patterns import route_alarms
from patterns.compliance import is_strict
from stacks import DEMO_STACKS

# Feature flags live here rather than in cdk.json, so `cdk synth` and the tests (which build
# the app in-process) synthesize identical templates.
FEATURE_FLAGS = {
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
    "@aws-cdk/aws-sns-subscriptions:restrictSqsDescryption": True,
    # CloudFormation's own template checks (e.g. circular dependencies) fail the synth too.
    "@aws-cdk/core:validateAgainstDefaultRules": True,
}


def build_app(outdir: Optional[str] = None, context: Optional[Mapping[str, Any]] = None) -> cdk.App:
    """Instantiate every demo stack, route every alarm to someone, register the profile's rule sets."""
    app = cdk.App(outdir=outdir, context={**FEATURE_FLAGS, **(context or {})})
    for name, stack_class in DEMO_STACKS.items():
        stack_class(app, name)
    # Each stack gets an encrypted AlarmTopic (e-mail from context alarmEmail or ALARM_EMAIL).
    route_alarms(app)
    register_rule_sets(app)
    return app


def register_rule_sets(app: cdk.App) -> None:
    """AwsSolutions and Serverless always; under the strict profile the compliance packs and Control Tower too."""
    plugins: list = [AwsSolutionsChecks(app), ServerlessChecks(app)]
    if is_strict(app):
        # Control Tower's proactive controls (CloudFormation Guard rules, run offline); a dev dependency.
        from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

        plugins += [
            NIST80053R5Checks(app),
            HIPAASecurityChecks(app),
            PCIDSS321Checks(app),
            CfnGuardValidator(control_tower_rules_enabled=True),
        ]
    cdk.Validations.of(app).add_plugins(*plugins)


if __name__ == "__main__":
    build_app().synth()
