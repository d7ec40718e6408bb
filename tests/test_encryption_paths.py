"""Whoever writes to or reads from a resource encrypted with a customer-managed key may use that key.

AWS rule: SQS, SNS and DynamoDB call KMS on behalf of the caller. A producer on a CMK-encrypted
queue or topic needs ``kms:GenerateDataKey`` and ``kms:Decrypt`` on its key; a consumer of such a
queue, a reader or writer of such a table and a reader of its stream need ``kms:Decrypt``. When
the caller is a service (SNS delivering to a queue, CloudWatch publishing an alarm), the key
policy must allow that service. Without the permission the call fails at run time, long after a
clean synth: an event is lost, a DLQ stays empty, a stream is never read.

The test reads each synthesized template, finds every (principal, encrypted resource, access) -
IAM statements granting sqs:SendMessage / sqs:ReceiveMessage / sns:Publish / DynamoDB data or
stream reads, event source mappings and their on-failure destinations, SNS -> SQS subscriptions
and their DLQs, Lambda dead-letter configs, alarm actions - and checks the key allows it, through
the principal's identity policy (when the key policy delegates to IAM) or the key policy itself.
It runs over every demo stack and over small stacks for the cases the demos do not show.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs

from patterns import (
    ApiLambdaTable,
    FanoutQueue,
    SecureFunction,
    SecureTable,
    SecureTopic,
    TableEventPublisher,
    bundled_code,
)
from patterns.blocks import standalone_dead_letter_queue

#: The KMS actions each kind of access needs on the resource's key.
NEEDED = {
    "send": ("kms:GenerateDataKey", "kms:Decrypt"),
    "publish": ("kms:GenerateDataKey", "kms:Decrypt"),
    "receive": ("kms:Decrypt",),
    "table-data": ("kms:Decrypt",),
    "stream-read": ("kms:Decrypt",),
}
_TABLE_DATA_ACTIONS = {
    f"dynamodb:{name}"
    for name in (
        "BatchGetItem",
        "BatchWriteItem",
        "ConditionCheckItem",
        "DeleteItem",
        "GetItem",
        "PutItem",
        "Query",
        "Scan",
        "UpdateItem",
    )
}
_RESOURCE_TYPES = ("AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::DynamoDB::Table")


@dataclass(frozen=True)
class Access:
    principal: str  # "role:<logical id>" or "service:<service principal>"
    resource: str  # logical id of the queue, topic or table
    kind: str  # a key of NEEDED
    via: str  # what in the template gives the access


def _refs(node: Any) -> Iterator[tuple[str, str | None]]:
    """Every (logical id, attribute) a CloudFormation expression refers to (attribute None for Ref)."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and isinstance(node["Ref"], str):
            yield node["Ref"], None
            return
        if set(node) == {"Fn::GetAtt"}:
            yield node["Fn::GetAtt"][0], node["Fn::GetAtt"][1]
            return
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _action_allows(patterns: Any, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in _as_list(patterns))


class EncryptionModel:
    """The encrypted resources, their keys, and who reaches them, in one template."""

    def __init__(self, template: dict) -> None:
        self.resources: dict[str, dict] = template.get("Resources", {})

    def _type(self, logical_id: str) -> str | None:
        return self.resources.get(logical_id, {}).get("Type")

    def _props(self, logical_id: str) -> dict:
        return self.resources.get(logical_id, {}).get("Properties", {})

    # --- what is encrypted with which key ------------------------------------------------------

    def key_of(self, logical_id: str) -> str | None:
        """The logical id of the customer-managed key in this template that encrypts the resource."""
        props = self._props(logical_id)
        kind = self._type(logical_id)
        if kind == "AWS::DynamoDB::Table":
            expression = (props.get("SSESpecification") or {}).get("KMSMasterKeyId")
        else:
            expression = props.get("KmsMasterKeyId")
        keys = [ref for ref, _ in _refs(expression) if self._type(ref) == "AWS::KMS::Key"]
        if expression is not None and not keys and kind != "AWS::DynamoDB::Table":
            # An AWS-managed alias (alias/aws/sqs, alias/aws/sns) needs no grant; anything else
            # would be a key this test cannot see.
            assert str(expression).startswith("alias/aws/"), f"{logical_id}: key {expression} is not in the template"
        return keys[0] if keys else None

    # --- who reaches what --------------------------------------------------------------------

    def _function_role(self, function_expression: Any) -> str | None:
        """The role of the function an expression names (a function, alias or version)."""
        for ref, _ in _refs(function_expression):
            kind = self._type(ref)
            if kind == "AWS::Lambda::Function":
                roles = [r for r, _ in _refs(self._props(ref).get("Role")) if self._type(r) == "AWS::IAM::Role"]
                return roles[0] if roles else None
            if kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
                return self._function_role(self._props(ref).get("FunctionName"))
        return None

    def _targets(self, expression: Any) -> Iterator[tuple[str, str]]:
        """(resource, kind of resource) for every queue, topic, table or stream in an expression."""
        for ref, attribute in _refs(expression):
            kind = self._type(ref)
            if kind == "AWS::DynamoDB::Table":
                yield ref, "stream" if attribute == "StreamArn" else "table"
            elif kind in ("AWS::SQS::Queue", "AWS::SNS::Topic"):
                yield ref, kind

    def identity_statements(self) -> Iterator[tuple[str, str, dict]]:
        """(role, policy id, statement) for every Allow statement of every role's identity policies."""
        for logical_id, resource in self.resources.items():
            props = resource.get("Properties", {})
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                documents = [(props["PolicyDocument"], [r for r, _ in _refs(props.get("Roles", []))])]
            elif resource["Type"] == "AWS::IAM::Role":
                documents = [(p["PolicyDocument"], [logical_id]) for p in props.get("Policies", [])]
            else:
                continue
            for document, roles in documents:
                for statement in _as_list(document.get("Statement", [])):
                    if statement.get("Effect") == "Allow":
                        for role in roles:
                            yield role, logical_id, statement

    def accesses(self) -> list[Access]:
        found: list[Access] = []
        for role, policy, statement in self.identity_statements():
            for target, kind in self._targets(statement.get("Resource")):
                actions = statement.get("Action")
                wanted = {
                    "AWS::SQS::Queue": (("sqs:SendMessage", "send"), ("sqs:ReceiveMessage", "receive")),
                    "AWS::SNS::Topic": (("sns:Publish", "publish"),),
                    "table": tuple((action, "table-data") for action in sorted(_TABLE_DATA_ACTIONS)),
                    "stream": (("dynamodb:GetRecords", "stream-read"),),
                }[kind]
                for action, access in wanted:
                    if _action_allows(actions, action):
                        found.append(Access(f"role:{role}", target, access, f"{policy}: {action}"))
        for logical_id, resource in self.resources.items():
            props = resource.get("Properties", {})
            kind = resource["Type"]
            if kind == "AWS::Lambda::EventSourceMapping":
                role = self._function_role(props.get("FunctionName"))
                for target, target_kind in self._targets(props.get("EventSourceArn")):
                    access = "stream-read" if target_kind == "stream" else "receive"
                    found.append(Access(f"role:{role}", target, access, f"{logical_id}: event source"))
                on_failure = (props.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
                for target, target_kind in self._targets(on_failure):
                    access = "send" if target_kind == "AWS::SQS::Queue" else "publish"
                    found.append(Access(f"role:{role}", target, access, f"{logical_id}: on-failure destination"))
            elif kind == "AWS::SNS::Subscription" and props.get("Protocol") == "sqs":
                dead_letter = (props.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
                for expression, via in ((props.get("Endpoint"), "delivery"), (dead_letter, "dead letters")):
                    for target, _ in self._targets(expression):
                        found.append(Access("service:sns.amazonaws.com", target, "send", f"{logical_id}: {via}"))
            elif kind == "AWS::Lambda::Function" and props.get("DeadLetterConfig"):
                role = self._function_role({"Ref": logical_id})
                for target, target_kind in self._targets(props["DeadLetterConfig"].get("TargetArn")):
                    access = "send" if target_kind == "AWS::SQS::Queue" else "publish"
                    found.append(Access(f"role:{role}", target, access, f"{logical_id}: dead-letter config"))
            elif kind == "AWS::CloudWatch::Alarm":
                for target, target_kind in self._targets(props.get("AlarmActions", []) + props.get("OKActions", [])):
                    if target_kind == "AWS::SNS::Topic":
                        found.append(
                            Access("service:cloudwatch.amazonaws.com", target, "publish", f"{logical_id}: alarm action")
                        )
        return found

    def encrypted_accesses(self) -> list[tuple[Access, str]]:
        """Every access to a resource encrypted with a key of this template, with that key."""
        return [(access, key) for access in self.accesses() if (key := self.key_of(access.resource)) is not None]

    # --- what the key allows -----------------------------------------------------------------

    def _key_statements(self, key: str) -> list[dict]:
        policy = self._props(key).get("KeyPolicy", {})
        return [s for s in _as_list(policy.get("Statement", [])) if s.get("Effect") == "Allow"]

    def _delegates_to_iam(self, key: str) -> bool:
        """The key policy lets the account's IAM policies grant its use (the account root has kms:*)."""
        for statement in self._key_statements(key):
            principal = (statement.get("Principal") or {}).get("AWS")
            rendered = str(principal)
            if ":root" in rendered and _action_allows(statement.get("Action"), "kms:Decrypt"):
                return True
        return False

    def _key_policy_allows(self, principal: str, key: str, action: str) -> bool:
        kind, name = principal.split(":", 1)
        for statement in self._key_statements(key):
            principals = statement.get("Principal") or {}
            if kind == "service":
                matches = name in _as_list(principals.get("Service", []))
            else:
                matches = any(ref == name for ref, _ in _refs(principals.get("AWS")))
            if matches and _action_allows(statement.get("Action"), action):
                return True
        return False

    def _identity_allows(self, role: str, key: str, action: str) -> bool:
        for statement_role, _, statement in self.identity_statements():
            if statement_role != role or not _action_allows(statement.get("Action"), action):
                continue
            resources = _as_list(statement.get("Resource"))
            if "*" in resources or any(ref == key for ref, _ in _refs(resources)):
                return True
        return False

    def allows(self, principal: str, key: str, action: str) -> bool:
        if self._key_policy_allows(principal, key, action):
            return True
        kind, name = principal.split(":", 1)
        return kind == "role" and self._delegates_to_iam(key) and self._identity_allows(name, key, action)

    def gaps(self) -> list[str]:
        """Each access whose principal may not use the resource's key as it must."""
        missing = []
        for access, key in self.encrypted_accesses():
            lacking = [action for action in NEEDED[access.kind] if not self.allows(access.principal, key, action)]
            if lacking:
                missing.append(
                    f"{access.principal} {access.kind} {access.resource} ({access.via}) lacks {lacking} on {key}"
                )
        return sorted(set(missing))


# --- stacks for the cases the demos do not show -------------------------------------------------


class CmkTableStream(Stack):
    """A table with its own key, its stream published to a topic."""

    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        key = kms.Key(self, "TableKey", enable_key_rotation=True)
        table = SecureTable(self, "Items", encryption_key=key, stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES)
        topic = SecureTopic(self, "Events")
        TableEventPublisher(self, "Changes", table=table.table, topic=topic.topic, encryption_key=topic.key)


class CmkItemsTable(Stack):
    """An items API over a table with its own key."""

    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        key = kms.Key(self, "TableKey", enable_key_rotation=True)
        ApiLambdaTable(self, "Items", table=SecureTable(self, "Table", encryption_key=key).table)


class CmkDeadLetterQueue(Stack):
    """A function whose failed asynchronous events go to a queue with its own key."""

    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        key = kms.Key(self, "DeadLetterKey", enable_key_rotation=True)
        queue = standalone_dead_letter_queue(self, "FailedEvents", encryption_key=key)
        SecureFunction(self, "Worker", code=bundled_code("hello"), dead_letter_queue=queue)


class FifoFanoutWithOwnKeys(Stack):
    """A FIFO fan-out with keys passed in, its table events, and a publisher of the user's."""

    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        events = FanoutQueue(
            self,
            "Events",
            fifo=True,
            encryption_key=kms.Key(self, "TopicKey", enable_key_rotation=True),
            queue_encryption_key=kms.Key(self, "QueueKey", enable_key_rotation=True),
        )
        events.add_subscriber("Audit", idempotency_key_field="event_id")
        table = SecureTable(self, "Items", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES)
        TableEventPublisher(self, "Changes", table=table.table, topic=events.topic, encryption_key=events.key)
        publisher = SecureFunction(self, "Publisher", code=bundled_code("hello"))
        events.grant_publish(publisher.function)


class UnderGranted(Stack):
    """A producer given sqs:SendMessage on a CMK queue without the key: the check must catch it."""

    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        queue = sqs.Queue(
            self,
            "Inbox",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=kms.Key(self, "Key"),
            enforce_ssl=True,
        )
        producer = SecureFunction(self, "Producer", code=bundled_code("hello"))
        queue.grant(producer.function, "sqs:SendMessage")


EXTRA_STACKS = {
    cls.__name__: cls
    for cls in (CmkTableStream, CmkItemsTable, CmkDeadLetterQueue, FifoFanoutWithOwnKeys, UnderGranted)
}


@pytest.fixture(scope="module")
def extra_templates(tmp_path_factory) -> dict[str, dict]:
    app = App(outdir=str(tmp_path_factory.mktemp("encryption-paths")))
    for name, stack_class in EXTRA_STACKS.items():
        stack_class(app, name)
    assembly = app.synth()
    return {name: assembly.get_stack_by_name(name).template for name in EXTRA_STACKS}


def _demo_names() -> list[str]:
    from stacks import DEMO_STACKS, EXTRA_DEMO_STACKS

    return sorted([*DEMO_STACKS, *EXTRA_DEMO_STACKS])


@pytest.mark.parametrize("stack_name", _demo_names())
def test_every_encrypted_path_of_a_demo_stack_has_its_key_permissions(demo_app, stack_name):
    assert EncryptionModel(demo_app.template(stack_name)).gaps() == []


@pytest.mark.parametrize(
    "stack_name", ["CmkTableStream", "CmkItemsTable", "CmkDeadLetterQueue", "FifoFanoutWithOwnKeys"]
)
def test_every_encrypted_path_of_a_construct_has_its_key_permissions(extra_templates, stack_name):
    assert EncryptionModel(extra_templates[stack_name]).gaps() == []


def test_a_producer_without_the_queue_key_is_reported(extra_templates):
    gaps = EncryptionModel(extra_templates["UnderGranted"]).gaps()
    assert len(gaps) == 1
    assert "send" in gaps[0] and "'kms:GenerateDataKey', 'kms:Decrypt'" in gaps[0]


def _kinds(template: dict) -> set[tuple[str, str]]:
    model = EncryptionModel(template)
    return {(access.principal.split(":")[0], access.kind) for access, _ in model.encrypted_accesses()}


def test_the_cmk_stream_table_and_dead_letter_queue_are_seen(extra_templates):
    assert ("role", "stream-read") in _kinds(extra_templates["CmkTableStream"])
    assert ("role", "table-data") in _kinds(extra_templates["CmkItemsTable"])
    model = EncryptionModel(extra_templates["CmkDeadLetterQueue"])
    assert any(a.kind == "send" and "dead-letter config" in a.via for a, _ in model.encrypted_accesses())


def test_the_fanout_paths_are_seen(demo_app, extra_templates):
    expected = {("service", "send"), ("role", "receive")}
    assert expected <= _kinds(demo_app.template("FanoutDemo"))
    assert expected | {("role", "publish")} <= _kinds(extra_templates["FifoFanoutWithOwnKeys"])
