"""A consumer's CDK app, built only from the installed ``serverless-patterns`` wheel.

Env-bound stacks (the usual production setup), the four patterns and the table-event bridge, a
table shared across stacks, and both cdk-nag packs: synth fails on any unacknowledged finding.
Run: ``python app.py OUTDIR``; prints where ``patterns`` was imported from and the stacks made.
"""

import json
import sys

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

import patterns
from patterns import (
    ITEMS_SMOKE_TEST_EVENT,
    ApiLambdaTable,
    CanaryFunction,
    CognitoProtectedApi,
    FanoutQueue,
    SecureTable,
    TableEventPublisher,
    bundled_code,
    items_handler_environment,
)
from patterns.testing import normalized_template

ENV = cdk.Environment(account="123456789012", region="eu-central-1")
DESTROY = cdk.RemovalPolicy.DESTROY


class Data(cdk.Stack):
    def __init__(self, scope, id, **kwargs):
        super().__init__(scope, id, **kwargs)
        self.table = SecureTable(
            self, "Orders", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES, removal_policy=DESTROY
        ).table


class Service(cdk.Stack):
    def __init__(self, scope, id, *, table, **kwargs):
        super().__init__(scope, id, **kwargs)
        canary = CanaryFunction(
            self,
            "OrdersFunction",
            code=bundled_code("items_api"),
            environment=items_handler_environment(table, admin_group="admins"),
            pre_traffic_hook=True,
            smoke_payload=ITEMS_SMOKE_TEST_EVENT,
            expected_status_code=200,
        )
        CognitoProtectedApi(self, "OrdersApi", function=canary.alias, table=table, removal_policy=DESTROY)
        ApiLambdaTable(self, "Inventory", table_removal_policy=DESTROY)
        events = FanoutQueue(self, "OrderEvents", removal_policy=DESTROY)
        events.add_subscriber("Audit", idempotency_key_field="event_id")
        TableEventPublisher(self, "OrderChanges", table=table, topic=events.topic, encryption_key=events.key)


def main(outdir: str) -> None:
    app = cdk.App(outdir=outdir)
    data = Data(app, "ConsumerData", env=ENV)
    service = Service(app, "ConsumerService", table=data.table, env=ENV)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    assembly = app.synth()
    resources = normalized_template(assembly.get_stack_by_name("ConsumerService").template)["Resources"]
    print(
        json.dumps(
            {
                "patterns": patterns.__file__,
                "stacks": [data.stack_name, service.stack_name],
                "resources": len(resources),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
