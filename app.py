#!/usr/bin/env python3
"""The demo app: every demo stack, checked by the cdk-nag AwsSolutions and Serverless packs."""

from typing import Any, Mapping, Optional

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns import route_alarms
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
    """Instantiate every demo stack, route every alarm to someone, register the cdk-nag packs."""
    app = cdk.App(outdir=outdir, context={**FEATURE_FLAGS, **(context or {})})
    for name, stack_class in DEMO_STACKS.items():
        stack_class(app, name)
    # Each stack gets an encrypted AlarmTopic (e-mail from context alarmEmail or ALARM_EMAIL).
    route_alarms(app)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
