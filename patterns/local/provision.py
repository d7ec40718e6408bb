"""Create a synthesized app's stateful resources on the local endpoint and describe what runs locally.

Each stack's resources are visited in dependency order, their properties resolved against the
values the resources before them got (:class:`~patterns.local.intrinsics.Resolver`):

* DynamoDB tables, Kinesis streams, SQS queues, SNS topics and their SQS subscriptions, Cognito user pools with
  their resource servers, clients and groups are created on the endpoint (moto's server). They
  keep the template's names; unnamed ones are called ``{stack}-{LogicalId}`` (shortened with a
  hash when that is too long for the service).
* Step Functions state machines are created on the endpoint, for moto's interpreter to run
  (``provision_stepfunctions``).
* Lambda functions become :class:`LocalFunction` s for the workers, named the same way; versions
  and aliases resolve to the function's qualified ARNs (``...:function:NAME:1``, ``...:NAME:live``);
  event source mappings become :class:`EventSource` s for the pollers.
* Everything else (IAM, KMS, logs, alarms, CodeDeploy, permissions, policies, custom resources...)
  is not created. It gets a deterministic placeholder ``Ref`` (and the usual attributes: ARNs,
  KMS key ids, the REST API's root resource id) so references to it resolve, and a line in
  :attr:`LocalStack.skipped`. API Gateway resources that the local gateway serves straight from
  the template (see :data:`SERVED_FROM_TEMPLATE`) get placeholders but no line: their ``Ref`` is
  their logical id, except a stage's (its ``StageName``) and a named model's (its ``Name``).

Properties a stateful resource needs but that cannot be resolved locally (``Fn::ImportValue``,
parameters without a default, ...) stop the run with a :class:`LocalRunError`; for other resources
the problem is noted in ``skipped`` and the resource left out. A function's environment variables
are resolved one by one: those that cannot be are listed in :attr:`LocalFunction.unresolved`.

Re-running against an endpoint that already holds the resources (same names) reuses them as they
are; restart the endpoint to pick up changed settings.

This module puts the steps together; each lives in its own module: the dependency order
(``provision_order``), what every family shares (``provision_stack``), one module per resource
family (``provision_dynamodb``, ``provision_messaging``, ``provision_cognito``, ``provision_lambda``,
``provision_placeholders``) and the run's users (``provision_users``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .intrinsics import Unresolvable
from .model import REGION, LocalEnvironment, LocalRunError, LocalStack, StackTemplate
from .provision_cognito import SIGN_IN_AUTH_FLOW, CognitoProvisioner
from .provision_dynamodb import DynamoDbProvisioner
from .provision_kinesis import KinesisProvisioner
from .provision_lambda import LambdaProvisioner
from .provision_messaging import MessagingProvisioner
from .provision_order import resource_order
from .provision_placeholders import SERVED_FROM_TEMPLATE, PlaceholderProvisioner
from .provision_s3 import BUCKET_NOTIFICATIONS_TYPE, S3Provisioner
from .provision_stack import Clients, NotLocal, Resource, Run
from .provision_stepfunctions import StepFunctionsProvisioner
from .provision_users import LocalUser, create_users, parse_user

__all__ = [
    "SERVED_FROM_TEMPLATE",
    "SIGN_IN_AUTH_FLOW",
    "STATEFUL_TYPES",
    "LocalUser",
    "parse_user",
    "provision",
    "resource_order",
]

#: Resources a local run cannot do without: failing to resolve one of these stops the run.
STATEFUL_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::DynamoDB::GlobalTable",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::Cognito::UserPool",
        "AWS::Kinesis::Stream",
        "AWS::S3::Bucket",
    }
)


def provision(
    stacks: list[StackTemplate],
    endpoint: str,
    region: str = REGION,
    users: Sequence[LocalUser] = (),
) -> LocalEnvironment:
    """Create the stacks' stateful resources on ``endpoint`` and describe what runs locally."""
    endpoint = endpoint.rstrip("/")
    run = Run(Clients(endpoint, region), region)
    environment = LocalEnvironment(
        endpoint=endpoint,
        region=region,
        stacks=[_StackProvisioner(stack, run).provision() for stack in stacks],
    )
    create_users(run.clients, environment, users)
    return environment


# -- one stack ---------------------------------------------------------------------------------------


class _StackProvisioner(
    DynamoDbProvisioner,
    MessagingProvisioner,
    CognitoProvisioner,
    LambdaProvisioner,
    KinesisProvisioner,
    StepFunctionsProvisioner,
    S3Provisioner,
    PlaceholderProvisioner,
):
    """Provisions one stack, recording each resource's Ref and attributes as it goes."""

    def provision(self) -> LocalStack:
        self._record_parameter_defaults()
        resources = self.stack.template.get("Resources", {})
        for logical_id in resource_order(resources):
            self._provision_resource(logical_id, resources[logical_id])
        return self.local

    def _record_parameter_defaults(self) -> None:
        """Parameters resolve to their defaults; SSM-backed ones (like CDK's BootstrapVersion) to nothing."""
        for name, parameter in self.stack.template.get("Parameters", {}).items():
            kind = parameter.get("Type", "String")
            if "Default" not in parameter or kind.startswith("AWS::SSM::Parameter::Value"):
                continue
            default = parameter["Default"]
            is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
            self.local.refs[name] = [item.strip() for item in str(default).split(",")] if is_list else default

    def _provision_resource(self, logical_id: str, definition: dict[str, Any]) -> None:
        resource_type = definition.get("Type", "")
        try:
            condition = definition.get("Condition")
            if condition and not self.resolver.condition(condition, f"{logical_id}.Condition"):
                self._skip(logical_id, resource_type, f"its condition {condition} is false")
                return
            resource = Resource(
                logical_id,
                resource_type,
                definition.get("Properties", {}),
                definition.get("Metadata", {}),
                self.resolver,
            )
            _HANDLERS.get(resource_type, _StackProvisioner._placeholder)(self, resource)
        except (Unresolvable, NotLocal) as problem:
            if resource_type in STATEFUL_TYPES:
                raise LocalRunError(
                    f"stack {self.stack.name}: {logical_id} ({resource_type}) cannot be created locally: {problem}"
                ) from None
            self._skip(logical_id, resource_type, f"left out: {problem}")
        except (ClientError, BotoCoreError) as error:
            raise LocalRunError(
                f"stack {self.stack.name}: creating {logical_id} ({resource_type}) on the local endpoint "
                f"failed: {error}"
            ) from None


_HANDLERS: dict[str, Callable[[_StackProvisioner, Resource], None]] = {
    "AWS::DynamoDB::Table": _StackProvisioner._table,
    "AWS::DynamoDB::GlobalTable": _StackProvisioner._table,
    "AWS::SQS::Queue": _StackProvisioner._queue,
    "AWS::SNS::Topic": _StackProvisioner._topic,
    "AWS::SNS::Subscription": _StackProvisioner._subscription,
    "AWS::Cognito::UserPool": _StackProvisioner._user_pool,
    "AWS::Cognito::UserPoolResourceServer": _StackProvisioner._resource_server,
    "AWS::Cognito::UserPoolClient": _StackProvisioner._user_pool_client,
    "AWS::Cognito::UserPoolGroup": _StackProvisioner._user_pool_group,
    "AWS::Lambda::Function": _StackProvisioner._function,
    "AWS::Lambda::Version": _StackProvisioner._version,
    "AWS::Lambda::Alias": _StackProvisioner._alias,
    "AWS::Lambda::EventSourceMapping": _StackProvisioner._event_source_mapping,
    "AWS::Kinesis::Stream": _StackProvisioner._kinesis_stream,
    "AWS::StepFunctions::StateMachine": _StackProvisioner._state_machine,
    "AWS::S3::Bucket": _StackProvisioner._bucket,
    BUCKET_NOTIFICATIONS_TYPE: _StackProvisioner._bucket_notifications,
}
