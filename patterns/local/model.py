"""What the local runner knows about a synthesized app: the shared vocabulary of its modules.

``assembly`` reads the cloud assembly into :class:`StackTemplate`; ``provision`` creates the
stateful resources on the local endpoint and returns a :class:`LocalEnvironment`; ``workers`` runs
:class:`LocalFunction` s; ``gateway`` serves the :class:`LocalEnvironment`'s REST APIs; ``pollers``
drives its :class:`EventSource` mappings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"


class LocalRunError(Exception):
    """A problem the user must fix (missing cdk.out, unknown stack, unusable template)."""


@dataclass(frozen=True)
class StackTemplate:
    """One stack of the cloud assembly."""

    name: str  # the artifact id / stack name, e.g. "ItemsServiceDemo"
    template: dict[str, Any]
    assembly_dir: Path  # cdk.out; asset paths in resource metadata are relative to it


@dataclass
class LocalFunction:
    """A Lambda function of a template, with everything needed to run it in a local worker."""

    stack: str
    logical_id: str
    name: str  # physical name given locally (the function's Ref)
    arn: str
    code_dir: Path  # the asset folder in cdk.out holding the handler's code
    handler: str  # "module.function", as in the template
    runtime: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str]  # resolved variables only
    unresolved: dict[str, str] = field(default_factory=dict)  # variable -> why it could not be resolved


@dataclass
class EventSource:
    """An AWS::Lambda::EventSourceMapping the runner drives with a poller."""

    stack: str
    logical_id: str
    function: LocalFunction
    kind: str  # "sqs", "dynamodb" or "kinesis"
    source_arn: str
    batch_size: int
    batching_window_seconds: int = 0
    report_batch_item_failures: bool = False
    queue_url: str | None = None  # sqs
    stream_arn: str | None = None  # streams (dynamodb, kinesis: the stream's or its consumer's ARN)
    starting_position: str | None = None  # streams: TRIM_HORIZON / LATEST
    bisect_on_error: bool = False  # streams
    maximum_retry_attempts: int | None = None  # streams; None = until the record expires
    on_failure_arn: str | None = None  # streams: SQS queue or SNS topic ARN for failed batches
    tumbling_window_seconds: int = 0  # streams; 0 = no window
    enabled: bool = True


@dataclass
class LocalUserPool:
    stack: str
    logical_id: str
    pool_id: str
    arn: str
    client_ids: dict[str, str] = field(default_factory=dict)  # client logical id -> client id
    groups: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)  # full names, e.g. "items/read"


@dataclass
class LocalStack:
    """One provisioned stack: physical values of its resources and what runs in it."""

    name: str
    template: dict[str, Any]
    refs: dict[str, Any]  # logical id -> value of {"Ref": id}
    attributes: dict[tuple[str, str], Any]  # (logical id, attribute) -> value of Fn::GetAtt
    functions: dict[str, LocalFunction]  # by logical id
    event_sources: list[EventSource]
    user_pools: dict[str, LocalUserPool]  # by logical id
    skipped: list[str] = field(default_factory=list)  # "LogicalId (Type): why" for resources not made locally


@dataclass
class LocalEnvironment:
    endpoint: str  # the local AWS endpoint, e.g. http://127.0.0.1:5000
    region: str
    stacks: list[LocalStack]

    def function_for_arn(self, arn: str) -> LocalFunction | None:
        """The function an ARN names, whether plain, versioned or aliased (``...:function:name[:qualifier]``)."""
        parts = arn.split(":")
        if len(parts) < 7 or parts[5] != "function":
            return None
        name = parts[6]
        for stack in self.stacks:
            for function in stack.functions.values():
                if function.name == name:
                    return function
        return None

    def stack(self, name: str) -> LocalStack:
        for stack in self.stacks:
            if stack.name == name:
                return stack
        raise LocalRunError(f"stack {name!r} is not part of this local run")


@dataclass
class Invocation:
    """The outcome of one local invocation, as the Lambda service would report it."""

    request_id: str
    payload: Any = None  # the handler's return value (JSON round-tripped) when it succeeded
    error: dict[str, Any] | None = None  # {"errorType", "errorMessage", "stackTrace"} when it failed
    duration_ms: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None
