"""Resources a local run does not create: stable placeholder Refs and attributes, and why each is left out."""

from __future__ import annotations

from .intrinsics import Unresolvable
from .model import ACCOUNT
from .provision_stack import Resource, StackProvisionerBase

#: API Gateway resources the local gateway reads from the template; they are not reported as skipped.
SERVED_FROM_TEMPLATE = frozenset(
    {
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::Authorizer",
        "AWS::ApiGateway::Model",
        "AWS::ApiGateway::RequestValidator",
    }
)

#: Why resources that are not created are not needed, by type prefix (first match wins).
_NOT_CREATED_REASONS = (
    ("AWS::IAM::", "permissions are not enforced locally"),
    ("AWS::KMS::", "encryption is not applied locally"),
    ("AWS::Logs::", "function logs go to the local run's output"),
    ("AWS::CloudWatch::", "alarms and metrics are not evaluated locally"),
    ("AWS::Lambda::Permission", "invoke permissions are not enforced locally"),
    ("AWS::Lambda::LayerVersion", "layers are not loaded locally: the local Python environment provides the packages"),
    ("AWS::SQS::QueuePolicy", "resource policies are not enforced locally"),
    ("AWS::SNS::TopicPolicy", "resource policies are not enforced locally"),
    ("AWS::CodeDeploy::", "deployments are not run locally: the current code always runs"),
    ("AWS::CDK::Metadata", "not needed locally"),
    ("AWS::Scheduler::", "schedules are fired by the local run itself (patterns.local.schedules)"),
    ("AWS::ApiGateway::Account", "not needed locally"),
    ("AWS::CloudFormation::CustomResource", "custom resources are not run locally"),
    ("Custom::", "custom resources are not run locally"),
)

#: Placeholders of resources that are not created: the property naming them and their ARN's form.
_NAMED_PLACEHOLDERS = {
    "AWS::IAM::Role": ("RoleName", "arn:aws:iam::{account}:role/{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "arn:aws:logs:{region}:{account}:log-group:{name}:*"),
    "AWS::CloudWatch::Alarm": ("AlarmName", "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
    "AWS::CodeDeploy::Application": ("ApplicationName", None),
    "AWS::CodeDeploy::DeploymentGroup": ("DeploymentGroupName", None),
}


class PlaceholderProvisioner(StackProvisionerBase):
    """Records placeholders for the resources of a stack that are not created."""

    def _placeholder(self, resource: Resource) -> None:
        """Give a resource that is not created a stable Ref (and common attributes) and say why it is not."""
        logical_id, resource_type = resource.logical_id, resource.type
        if resource_type.startswith("AWS::ApiGateway::"):
            self._record_api_gateway_placeholder(resource)
        elif resource_type == "AWS::KMS::Key":
            key_id = self._stable_uuid(logical_id)
            self._record(logical_id, key_id, KeyId=key_id, Arn=f"arn:aws:kms:{self.region}:{ACCOUNT}:key/{key_id}")
        else:
            name_property, arn_form = _NAMED_PLACEHOLDERS.get(resource_type, (None, None))
            name = self._optional_name(resource, name_property) or self._physical_name(logical_id, 255)
            arn = arn_form.format(region=self.region, account=ACCOUNT, name=name) if arn_form else None
            self._record(logical_id, name, Arn=arn)
        if resource_type not in SERVED_FROM_TEMPLATE:
            self._skip(logical_id, resource_type, _not_created_reason(resource_type))

    def _record_api_gateway_placeholder(self, resource: Resource) -> None:
        """Logical ids are stable and distinct, which is all the local gateway needs of these ids."""
        logical_id = resource.logical_id
        ref = logical_id
        if resource.type == "AWS::ApiGateway::Stage":
            ref = self._optional_name(resource, "StageName") or logical_id
        elif resource.type == "AWS::ApiGateway::Model":
            ref = self._optional_name(resource, "Name") or logical_id
        root = f"{logical_id}-root" if resource.type == "AWS::ApiGateway::RestApi" else None
        self._record(logical_id, ref, RootResourceId=root)

    @staticmethod
    def _optional_name(resource: Resource, name_property: str | None) -> str | None:
        """A name property of a resource that is not created; a placeholder is used when it cannot be resolved."""
        if name_property is None:
            return None
        try:
            value = resource.prop(name_property)
        except Unresolvable:
            return None
        return value if isinstance(value, str) else None


def _not_created_reason(resource_type: str) -> str:
    for prefix, reason in _NOT_CREATED_REASONS:
        if resource_type.startswith(prefix):
            return reason
    return "not created locally"
