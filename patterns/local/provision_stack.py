"""One stack being provisioned: what it shares with the run, its resources, and how results are recorded.

Each resource family (``provision_dynamodb``, ``provision_messaging``, ``provision_cognito``,
``provision_lambda``, ``provision_placeholders``) extends :class:`StackProvisionerBase` with the
methods that create its resources; :mod:`patterns.local.provision` puts them together.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .endpoint import local_client
from .intrinsics import NO_VALUE, Resolver, pseudo_parameters
from .model import LocalFunction, LocalStack, LocalUserPool, StackTemplate


class Clients:
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
class Run:
    """What the stacks of one run share: the clients and what other stacks may refer to."""

    clients: Clients
    region: str
    queue_urls: dict[str, str] = field(default_factory=dict)  # queue ARN -> URL
    functions: dict[str, LocalFunction] = field(default_factory=dict)  # by function name
    user_pools: dict[str, LocalUserPool] = field(default_factory=dict)  # by pool id


class NotLocal(Exception):
    """A resource is left out of the local run, for the reason given."""


@dataclass
class Resource:
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
            raise NotLocal(f"property {name} is missing")
        return value


def flag(value: Any) -> bool:
    """A CloudFormation boolean, which templates may also write as a string."""
    return value is True or str(value).lower() == "true"


def attribute_string(value: Any) -> str:
    """A value as the string SQS and SNS attributes expect (booleans lower case, objects as JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def error_code(error: ClientError) -> str:
    code: str = error.response.get("Error", {}).get("Code", "")
    return code


class StackProvisionerBase:
    """The state of one stack being provisioned and the records every resource family makes in it."""

    def __init__(self, stack: StackTemplate, run: Run) -> None:
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
        self._asset_sources_by_key: dict[str, Path] | None = None

    @property
    def region(self) -> str:
        return self.run.region

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
            name = f"{name[: room - len(digest) - 1]}-{digest}"
        return name + suffix

    def _stable_uuid(self, logical_id: str) -> str:
        """An id in the service's UUID form that stays the same from one run to the next."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stack.name}/{logical_id}"))
