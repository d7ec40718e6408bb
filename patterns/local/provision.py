"""Create a synthesized app's stateful resources on the local endpoint and describe what runs locally.

Each stack's resources are visited in dependency order, their properties resolved against the
values the resources before them got (:class:`~patterns.local.intrinsics.Resolver`):

* DynamoDB tables, SQS queues, SNS topics and their SQS subscriptions, Cognito user pools with
  their resource servers, clients and groups are created on the endpoint (moto's server). They
  keep the template's names; unnamed ones are called ``{stack}-{LogicalId}`` (shortened with a
  hash when that is too long for the service).
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
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from .endpoint import local_client
from .intrinsics import NO_VALUE, Resolver, Unresolvable, pseudo_parameters
from .model import (
    ACCOUNT,
    REGION,
    EventSource,
    LocalEnvironment,
    LocalFunction,
    LocalRunError,
    LocalStack,
    LocalUserPool,
    StackTemplate,
)

_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")

#: Resources a local run cannot do without: failing to resolve one of these stops the run.
STATEFUL_TYPES = frozenset({
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Cognito::UserPool",
})

#: API Gateway resources the local gateway reads from the template; they are not reported as skipped.
SERVED_FROM_TEMPLATE = frozenset({
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
})

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

# Service limits on physical names.
_TABLE_NAME_LIMIT = 255
_QUEUE_NAME_LIMIT = 80
_TOPIC_NAME_LIMIT = 256
_FUNCTION_NAME_LIMIT = 64
_USER_POOL_NAME_LIMIT = 128

_DEFAULT_BATCH_SIZES = {"sqs": 10, "dynamodb": 100}
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "VisibilityTimeout",
)
_CLIENT_SETTINGS = (
    "AccessTokenValidity",
    "AllowedOAuthFlows",
    "AllowedOAuthFlowsUserPoolClient",
    "AllowedOAuthScopes",
    "AuthSessionValidity",
    "CallbackURLs",
    "DefaultRedirectURI",
    "EnableTokenRevocation",
    "IdTokenValidity",
    "LogoutURLs",
    "PreventUserExistenceErrors",
    "ReadAttributes",
    "RefreshTokenValidity",
    "SupportedIdentityProviders",
    "TokenValidityUnits",
    "WriteAttributes",
)
#: Cognito's explicit auth flows when a client names none.
_DEFAULT_AUTH_FLOWS = ("ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")
#: Added to every client so that the local sign-in page can check passwords.
SIGN_IN_AUTH_FLOW = "ALLOW_ADMIN_USER_PASSWORD_AUTH"


@dataclass(frozen=True)
class LocalUser:
    """A user to create in every user pool of the run (``--user email:password[:group,...]``)."""

    username: str
    password: str
    groups: tuple[str, ...] = ()


def parse_user(text: str) -> LocalUser:
    """Parse ``username:password[:group1,group2]``, the CLI's ``--user`` form.

    The groups are whatever follows the last colon when there are two or more, so a password that
    holds a colon needs a trailing colon (no groups): ``ada@example.com:pa:ss:``. Errors name the
    user but never echo the password.
    """
    username, separator, rest = text.partition(":")
    password, _, group_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
    username = username.strip()
    if not username or not separator or not password:
        raise ValueError(f"bad user {username!r}: expected EMAIL:PASSWORD[:GROUP,...]")
    groups = tuple(group.strip() for group in group_text.split(",")) if group_text.strip() else ()
    if not all(groups):
        raise ValueError(f"bad user {username!r}: empty group name in {group_text!r}")
    return LocalUser(username, password, groups)


def provision(
    stacks: list[StackTemplate],
    endpoint: str,
    region: str = REGION,
    users: Sequence[LocalUser] = (),
) -> LocalEnvironment:
    """Create the stacks' stateful resources on ``endpoint`` and describe what runs locally."""
    endpoint = endpoint.rstrip("/")
    run = _Run(_Clients(endpoint, region), region)
    environment = LocalEnvironment(
        endpoint=endpoint,
        region=region,
        stacks=[_StackProvisioner(stack, run).provision() for stack in stacks],
    )
    _create_users(run.clients, environment, users)
    return environment


# -- plumbing ----------------------------------------------------------------------------------------


class _Clients:
    """boto3 clients for the local endpoint, with fake credentials whatever the environment holds."""

    def __init__(self, endpoint: str, region: str) -> None:
        self._endpoint = endpoint
        self._region = region
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = local_client(service, self._endpoint, self._region)
        return self._clients[service]


@dataclass
class _Run:
    """What the stacks of one run share: the clients and what other stacks may refer to."""

    clients: _Clients
    region: str
    queue_urls: dict[str, str] = field(default_factory=dict)  # queue ARN -> URL
    functions: dict[str, LocalFunction] = field(default_factory=dict)  # by function name
    user_pools: dict[str, LocalUserPool] = field(default_factory=dict)  # by pool id


class _NotLocal(Exception):
    """A resource is left out of the local run, for the reason given."""


@dataclass
class _Resource:
    """One template resource, with its properties resolved on demand (only those a handler uses)."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    metadata: dict[str, Any]
    resolver: Resolver

    def prop(self, name: str, default: Any = None) -> Any:
        if name not in self.properties:
            return default
        value = self.resolver.resolve(self.properties[name], f"{self.logical_id}.{name}")
        return default if value is NO_VALUE else value

    def required(self, name: str) -> Any:
        value = self.prop(name)
        if value is None:
            raise _NotLocal(f"property {name} is missing")
        return value


def resource_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids ordered so that each comes after everything it references, else in template order."""
    position = {logical_id: index for index, logical_id in enumerate(resources)}
    waiting_on: dict[str, set[str]] = {}
    dependents: dict[str, list[str]] = {logical_id: [] for logical_id in resources}
    for logical_id, resource in resources.items():
        needed = (_references(resource) | set(_as_list(resource.get("DependsOn")))) & (resources.keys() - {logical_id})
        waiting_on[logical_id] = needed
        for dependency in needed:
            dependents[dependency].append(logical_id)
    ready = [(position[logical_id], logical_id) for logical_id, needed in waiting_on.items() if not needed]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        _, logical_id = heapq.heappop(ready)
        ordered.append(logical_id)
        for dependent in dependents[logical_id]:
            waiting_on[dependent].discard(logical_id)
            if not waiting_on[dependent]:
                heapq.heappush(ready, (position[dependent], dependent))
    if len(ordered) < len(resources):
        cycle = sorted(set(resources) - set(ordered))
        raise LocalRunError(f"resources reference each other in a cycle: {', '.join(cycle)}")
    return ordered


def _references(resource: dict[str, Any]) -> set[str]:
    """Names a resource refers to through Ref, Fn::GetAtt and Fn::Sub (its metadata aside)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, item in node.items():
                if key == "Ref" and isinstance(item, str):
                    found.add(item)
                elif key == "Fn::GetAtt":
                    found.add(item[0] if isinstance(item, list) else str(item).partition(".")[0])
                elif key == "Fn::Sub":
                    found.update(_sub_references(item))
                walk(item)

    walk({key: value for key, value in resource.items() if key != "Metadata"})
    return found


def _sub_references(argument: Any) -> set[str]:
    """Resources an Fn::Sub string names (``${Name}``, ``${Name.Attribute}``), its own variables aside."""
    text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
    return {
        name.partition(".")[0]
        for name in _SUB_VARIABLE.findall(text)
        if not name.startswith(("!", "AWS::")) and name not in variables
    }


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _flag(value: Any) -> bool:
    """A CloudFormation boolean, which templates may also write as a string."""
    return value is True or str(value).lower() == "true"


def _attribute_string(value: Any) -> str:
    """A value as the string SQS and SNS attributes expect (booleans lower case, objects as JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


# -- one stack ---------------------------------------------------------------------------------------


class _StackProvisioner:
    """Provisions one stack, recording each resource's Ref and attributes as it goes."""

    def __init__(self, stack: StackTemplate, run: _Run) -> None:
        self.stack = stack
        self.run = run
        self.local = LocalStack(
            name=stack.name,
            template=stack.template,
            refs={},
            attributes={},
            functions={},
            event_sources=[],
            user_pools={},
        )
        self.resolver = Resolver(
            self.local.refs,
            self.local.attributes,
            pseudo_parameters(stack.name, run.region),
            stack.template.get("Conditions", {}),
        )
        self._asset_sources_by_key: Optional[dict[str, Path]] = None

    @property
    def region(self) -> str:
        return self.run.region

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
            resource = _Resource(
                logical_id,
                resource_type,
                definition.get("Properties", {}),
                definition.get("Metadata", {}),
                self.resolver,
            )
            _HANDLERS.get(resource_type, _StackProvisioner._placeholder)(self, resource)
        except (Unresolvable, _NotLocal) as problem:
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

    def _skip(self, logical_id: str, resource_type: str, reason: str) -> None:
        self.local.skipped.append(f"{logical_id} ({resource_type}): {reason}")

    def _record(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        self.local.refs[logical_id] = ref
        for name, value in attributes.items():
            if value is not None:
                self.local.attributes[(logical_id, name)] = value

    def _physical_name(self, logical_id: str, limit: int, suffix: str = "") -> str:
        """``{stack}-{LogicalId}{suffix}``; when longer than ``limit``, cut short and ended with a hash of it."""
        name = f"{self.stack.name}-{logical_id}"
        room = limit - len(suffix)
        if len(name) > room:
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            name = f"{name[:room - len(digest) - 1]}-{digest}"
        return name + suffix

    def _stable_uuid(self, logical_id: str) -> str:
        """An id in the service's UUID form that stays the same from one run to the next."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stack.name}/{logical_id}"))

    # -- DynamoDB --------------------------------------------------------------------------------

    def _table(self, resource: _Resource) -> None:
        name = resource.prop("TableName") or self._physical_name(resource.logical_id, _TABLE_NAME_LIMIT)
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": resource.required("KeySchema"),
            "AttributeDefinitions": resource.required("AttributeDefinitions"),
            "BillingMode": "PAY_PER_REQUEST",  # capacity does not matter locally
        }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = resource.prop(index_kind, [])
            if indexes:
                request[index_kind] = [_index(index) for index in indexes]
        stream_view = (resource.prop("StreamSpecification") or {}).get("StreamViewType")
        if stream_view:
            request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream_view}
        dynamodb = self.run.clients("dynamodb")
        try:
            table = dynamodb.create_table(**request)["TableDescription"]
        except ClientError as error:
            if _error_code(error) != "ResourceInUseException":
                raise
            table = dynamodb.describe_table(TableName=name)["Table"]  # reused as it is
        else:
            ttl = resource.prop("TimeToLiveSpecification")
            if ttl and _flag(ttl.get("Enabled")):
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
        self._record(resource.logical_id, name, Arn=table["TableArn"], StreamArn=table.get("LatestStreamArn"))

    # -- SQS and SNS -----------------------------------------------------------------------------

    def _queue(self, resource: _Resource) -> None:
        fifo = _flag(resource.prop("FifoQueue", False))
        name = resource.prop("QueueName") or self._physical_name(
            resource.logical_id, _QUEUE_NAME_LIMIT, ".fifo" if fifo else ""
        )
        attributes = {
            key: _attribute_string(resource.prop(key)) for key in _QUEUE_ATTRIBUTES if key in resource.properties
        }
        if fifo:
            attributes["FifoQueue"] = "true"
        sqs = self.run.clients("sqs")
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except ClientError as error:  # it exists with other attributes: reuse it as it is
            if _error_code(error) != "QueueAlreadyExists":
                raise
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.run.queue_urls[arn] = url
        self._record(resource.logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)

    def _topic(self, resource: _Resource) -> None:
        fifo = _flag(resource.prop("FifoTopic", False))
        name = resource.prop("TopicName") or self._physical_name(
            resource.logical_id, _TOPIC_NAME_LIMIT, ".fifo" if fifo else ""
        )
        attributes = {"FifoTopic": "true"} if fifo else {}
        if "ContentBasedDeduplication" in resource.properties:
            attributes["ContentBasedDeduplication"] = _attribute_string(resource.prop("ContentBasedDeduplication"))
        arn = self.run.clients("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        self._record(resource.logical_id, arn, TopicArn=arn, TopicName=name)

    def _subscription(self, resource: _Resource) -> None:
        protocol = resource.required("Protocol")
        if protocol != "sqs":
            raise _NotLocal(f"only SQS subscriptions are delivered locally, not {protocol}")
        attributes = {
            key: _attribute_string(resource.prop(key))
            for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
            if key in resource.properties
        }
        arn = self.run.clients("sns").subscribe(
            TopicArn=resource.required("TopicArn"),
            Protocol=protocol,
            Endpoint=resource.required("Endpoint"),
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self._record(resource.logical_id, arn)

    # -- Cognito ---------------------------------------------------------------------------------

    def _user_pool(self, resource: _Resource) -> None:
        name = resource.prop("UserPoolName") or self._physical_name(resource.logical_id, _USER_POOL_NAME_LIMIT)
        cognito = self.run.clients("cognito-idp")
        pool_id = self._existing_pool_id(name)
        if pool_id is None:
            pool_id = cognito.create_user_pool(**self._user_pool_request(resource, name))["UserPool"]["Id"]
        arn = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
        provider = f"cognito-idp.{self.region}.amazonaws.com/{pool_id}"
        self._record(
            resource.logical_id,
            pool_id,
            Arn=arn,
            ProviderName=provider,
            ProviderURL=f"https://{provider}",
            UserPoolId=pool_id,
        )
        pool = LocalUserPool(stack=self.stack.name, logical_id=resource.logical_id, pool_id=pool_id, arn=arn)
        self.local.user_pools[resource.logical_id] = pool
        self.run.user_pools[pool_id] = pool
        mfa = resource.prop("MfaConfiguration", "OFF")
        if mfa != "OFF":
            self._skip(resource.logical_id, resource.type, f"MFA (MfaConfiguration {mfa}) is not enforced locally")

    @staticmethod
    def _user_pool_request(resource: _Resource, name: str) -> dict[str, Any]:
        request: dict[str, Any] = {"PoolName": name, "MfaConfiguration": "OFF"}
        for key in ("UsernameAttributes", "AliasAttributes", "AutoVerifiedAttributes", "Schema",
                    "AdminCreateUserConfig", "UsernameConfiguration"):
            value = resource.prop(key)
            if value is not None:
                request[key] = value
        password_policy = (resource.prop("Policies") or {}).get("PasswordPolicy")
        if password_policy:
            request["Policies"] = {"PasswordPolicy": password_policy}
        return request

    def _existing_pool_id(self, name: str) -> Optional[str]:
        pages = self.run.clients("cognito-idp").get_paginator("list_user_pools").paginate(
            PaginationConfig={"PageSize": 60}
        )
        for page in pages:
            for pool in page["UserPools"]:
                if pool["Name"] == name:
                    return pool["Id"]
        return None

    def _resource_server(self, resource: _Resource) -> None:
        pool_id = resource.required("UserPoolId")
        identifier = resource.required("Identifier")
        scopes = resource.prop("Scopes", [])
        cognito = self.run.clients("cognito-idp")
        try:
            cognito.describe_resource_server(UserPoolId=pool_id, Identifier=identifier)
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
            cognito.create_resource_server(
                UserPoolId=pool_id, Identifier=identifier, Name=resource.prop("Name", identifier), Scopes=scopes
            )
        self._record(resource.logical_id, identifier)
        pool = self.run.user_pools.get(pool_id)
        if pool is not None:
            pool.scopes.extend(f"{identifier}/{scope['ScopeName']}" for scope in scopes)

    def _user_pool_client(self, resource: _Resource) -> None:
        pool_id = resource.required("UserPoolId")
        name = resource.prop("ClientName") or resource.logical_id
        cognito = self.run.clients("cognito-idp")
        client_id = self._existing_client_id(pool_id, name)
        if client_id is None:
            request = {key: resource.prop(key) for key in _CLIENT_SETTINGS if key in resource.properties}
            flows = list(resource.prop("ExplicitAuthFlows") or _DEFAULT_AUTH_FLOWS)
            request["ExplicitAuthFlows"] = flows if SIGN_IN_AUTH_FLOW in flows else [*flows, SIGN_IN_AUTH_FLOW]
            request["GenerateSecret"] = _flag(resource.prop("GenerateSecret", False))
            created = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=name, **request)["UserPoolClient"]
            client_id = created["ClientId"]
        client = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
        secret = client.get("ClientSecret")
        self._record(resource.logical_id, client_id, ClientId=client_id, ClientSecret=secret, Name=name)
        pool = self.run.user_pools.get(pool_id)
        if pool is not None:
            pool.client_ids[resource.logical_id] = client_id

    def _existing_client_id(self, pool_id: str, name: str) -> Optional[str]:
        pages = self.run.clients("cognito-idp").get_paginator("list_user_pool_clients").paginate(
            UserPoolId=pool_id, PaginationConfig={"PageSize": 60}
        )
        for page in pages:
            for client in page["UserPoolClients"]:
                if client["ClientName"] == name:
                    return client["ClientId"]
        return None

    def _user_pool_group(self, resource: _Resource) -> None:
        pool_id = resource.required("UserPoolId")
        name = resource.prop("GroupName") or resource.logical_id
        extras = {key: resource.prop(key) for key in ("Description", "Precedence") if key in resource.properties}
        try:
            self.run.clients("cognito-idp").create_group(UserPoolId=pool_id, GroupName=name, **extras)
        except ClientError as error:
            if _error_code(error) != "GroupExistsException":
                raise
        self._record(resource.logical_id, name)
        pool = self.run.user_pools.get(pool_id)
        if pool is not None:
            pool.groups.append(name)

    # -- Lambda ----------------------------------------------------------------------------------

    def _function(self, resource: _Resource) -> None:
        name = resource.prop("FunctionName") or self._physical_name(resource.logical_id, _FUNCTION_NAME_LIMIT)
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"
        # Recorded first: references to a function resolve even when it cannot run locally.
        self._record(resource.logical_id, name, Arn=arn)
        if resource.prop("PackageType") == "Image":
            raise _NotLocal("container image functions are not run locally")
        environment, unresolved = self._environment(resource)
        function = LocalFunction(
            stack=self.stack.name,
            logical_id=resource.logical_id,
            name=name,
            arn=arn,
            code_dir=self._code_dir(resource),
            handler=resource.required("Handler"),
            runtime=resource.required("Runtime"),
            timeout_seconds=int(resource.prop("Timeout", 3)),
            memory_mb=int(resource.prop("MemorySize", 128)),
            environment=environment,
            unresolved=unresolved,
        )
        self.local.functions[resource.logical_id] = function
        self.run.functions[name] = function

    def _code_dir(self, resource: _Resource) -> Path:
        """The function's asset folder in the assembly, or a folder holding its inline code."""
        code = resource.properties.get("Code", {})
        if "ZipFile" in code:
            inline = resource.resolver.resolve_string(code["ZipFile"], f"{resource.logical_id}.Code.ZipFile")
            return _inline_code_dir(inline)
        asset_path = resource.metadata.get("aws:asset:path")
        if asset_path:
            code_dir: Optional[Path] = self.stack.assembly_dir / asset_path
        else:  # synthesized without asset metadata (outside the CDK CLI): ask the asset manifests
            s3_key = resource.resolver.resolve(code.get("S3Key"), f"{resource.logical_id}.Code.S3Key")
            code_dir = self._asset_sources().get(s3_key)
        if code_dir is None:
            raise _NotLocal("its code is neither inline nor an asset of the cloud assembly")
        if not code_dir.is_dir():
            raise _NotLocal(f"its code asset {code_dir} is not a folder (synthesize the app again)")
        return code_dir

    def _asset_sources(self) -> dict[str, Path]:
        """Where each file asset of the assembly comes from, by the object key it is uploaded as."""
        if self._asset_sources_by_key is None:
            self._asset_sources_by_key = {}
            for manifest in sorted(self.stack.assembly_dir.glob("*.assets.json")):
                for asset in json.loads(manifest.read_text(encoding="utf-8")).get("files", {}).values():
                    source = self.stack.assembly_dir / asset["source"]["path"]
                    for destination in asset.get("destinations", {}).values():
                        self._asset_sources_by_key[destination["objectKey"]] = source
        return self._asset_sources_by_key

    def _environment(self, resource: _Resource) -> tuple[dict[str, str], dict[str, str]]:
        """Resolve each variable on its own, so one unresolvable value does not lose the others."""
        variables = resource.properties.get("Environment", {}).get("Variables", {})
        resolved: dict[str, str] = {}
        unresolved: dict[str, str] = {}
        for variable, value in variables.items():
            try:
                result = resource.resolver.resolve(value, f"{resource.logical_id}.Environment.{variable}")
            except Unresolvable as problem:
                unresolved[variable] = problem.reason
                continue
            if result is not NO_VALUE:
                resolved[variable] = _attribute_string(result)
        return resolved, unresolved

    def _version(self, resource: _Resource) -> None:
        arn = f"{self._function_arn(resource.required('FunctionName'))}:1"
        self._record(resource.logical_id, arn, Version="1", FunctionArn=arn)

    def _alias(self, resource: _Resource) -> None:
        arn = f"{self._function_arn(resource.required('FunctionName'))}:{resource.required('Name')}"
        self._record(resource.logical_id, arn, AliasArn=arn)

    def _function_arn(self, reference: str) -> str:
        """The unqualified ARN of a function given by name, ARN or qualified ARN."""
        if reference.startswith("arn:"):
            return ":".join(reference.split(":")[:7])
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{reference.partition(':')[0]}"

    def _event_source_mapping(self, resource: _Resource) -> None:
        function_arn = self._function_arn(resource.required("FunctionName"))
        function = self.run.functions.get(function_arn.split(":")[6])
        if function is None:
            raise _NotLocal(f"its function {function_arn} does not run locally")
        source_arn = resource.required("EventSourceArn")
        kind = _event_source_kind(source_arn)
        retries = resource.prop("MaximumRetryAttempts")
        on_failure = ((resource.prop("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self.local.event_sources.append(EventSource(
            stack=self.stack.name,
            logical_id=resource.logical_id,
            function=function,
            kind=kind,
            source_arn=source_arn,
            batch_size=int(resource.prop("BatchSize", _DEFAULT_BATCH_SIZES[kind])),
            batching_window_seconds=int(resource.prop("MaximumBatchingWindowInSeconds", 0)),
            report_batch_item_failures="ReportBatchItemFailures" in resource.prop("FunctionResponseTypes", []),
            queue_url=self.run.queue_urls.get(source_arn) if kind == "sqs" else None,
            stream_arn=source_arn if kind == "dynamodb" else None,
            starting_position=resource.prop("StartingPosition"),
            bisect_on_error=_flag(resource.prop("BisectBatchOnFunctionError", False)),
            maximum_retry_attempts=None if retries is None or int(retries) == -1 else int(retries),
            on_failure_arn=on_failure,
            enabled=_flag(resource.prop("Enabled", True)),
        ))
        self._record(resource.logical_id, self._stable_uuid(resource.logical_id))

    # -- everything else -------------------------------------------------------------------------

    def _placeholder(self, resource: _Resource) -> None:
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

    def _record_api_gateway_placeholder(self, resource: _Resource) -> None:
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
    def _optional_name(resource: _Resource, name_property: Optional[str]) -> Optional[str]:
        """A name property of a resource that is not created; a placeholder is used when it cannot be resolved."""
        if name_property is None:
            return None
        try:
            value = resource.prop(name_property)
        except Unresolvable:
            return None
        return value if isinstance(value, str) else None


_HANDLERS: dict[str, Callable[[_StackProvisioner, _Resource], None]] = {
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
}


def _index(index: dict[str, Any]) -> dict[str, Any]:
    """A secondary index as CreateTable takes it: throughput and contributor insights do not apply locally."""
    return {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}


def _event_source_kind(source_arn: str) -> str:
    parts = source_arn.split(":")
    service = parts[2] if len(parts) > 2 else source_arn
    if service == "sqs":
        return "sqs"
    if service == "dynamodb" and "/stream/" in source_arn:
        return "dynamodb"
    raise _NotLocal(f"{service} event sources are not polled locally")


def _not_created_reason(resource_type: str) -> str:
    for prefix, reason in _NOT_CREATED_REASONS:
        if resource_type.startswith(prefix):
            return reason
    return "not created locally"


def _inline_code_dir(code: str) -> Path:
    """A folder holding inline code as ``index.py``, named after its content so runs share it."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "patterns-local-inline" / digest
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.py").write_text(code, encoding="utf-8")
    return folder


# -- users -------------------------------------------------------------------------------------------


def _create_users(clients: _Clients, environment: LocalEnvironment, users: Sequence[LocalUser]) -> None:
    """Create each user, with a permanent password, in every user pool of the run (if it has any).

    A group that no pool has is an error (a typo, most likely); a group some pools lack is skipped there.
    """
    pools = [pool for stack in environment.stacks for pool in stack.user_pools.values()]
    if not users or not pools:
        return
    known_groups = {group for pool in pools for group in pool.groups}
    for user in users:
        unknown = sorted(set(user.groups) - known_groups)
        if unknown:
            raise LocalRunError(
                f"user {user.username}: no user pool of this run has group(s) {', '.join(unknown)} "
                f"(groups: {', '.join(sorted(known_groups)) or 'none'})"
            )
        for pool in pools:
            try:
                _create_user(clients("cognito-idp"), pool, user)
            except ClientError as error:
                raise LocalRunError(
                    f"user {user.username} in user pool {pool.stack}/{pool.logical_id}: "
                    f"{error.response.get('Error', {}).get('Message') or error}"
                ) from None


def _create_user(cognito: Any, pool: LocalUserPool, user: LocalUser) -> None:
    attributes = []
    if "@" in user.username:  # an email: usable as the username of pools that sign in with email
        attributes = [{"Name": "email", "Value": user.username}, {"Name": "email_verified", "Value": "true"}]
    try:
        cognito.admin_create_user(
            UserPoolId=pool.pool_id, Username=user.username, UserAttributes=attributes, MessageAction="SUPPRESS"
        )
    except ClientError as error:
        if _error_code(error) != "UsernameExistsException":
            raise
    cognito.admin_set_user_password(
        UserPoolId=pool.pool_id, Username=user.username, Password=user.password, Permanent=True
    )
    for group in user.groups:
        if group in pool.groups:
            cognito.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=user.username, GroupName=group)
