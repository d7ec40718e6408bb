"""Names built from the stack instance (``AWS::StackId``), rendered as CloudFormation would for a given stack."""

from __future__ import annotations

import functools
from typing import Any


def rendered(value: Any, *, stack_id: str, stack_name: str = "") -> Any:
    """``value`` as CloudFormation renders it in the stack ``stack_id`` named ``stack_name``
    (the intrinsics a name is built with: Ref of the stack's pseudo parameters, Fn::Join, Fn::Select,
    Fn::Split); any other reference fails the test."""
    if isinstance(value, str):
        return value
    ((function, argument),) = value.items()
    again = functools.partial(rendered, stack_id=stack_id, stack_name=stack_name)
    if function == "Ref":
        return {"AWS::StackId": stack_id, "AWS::StackName": stack_name}[argument]
    if function == "Fn::Join":
        separator, parts = argument
        return separator.join(again(part) for part in parts)
    if function == "Fn::Split":
        separator, source = argument
        return again(source).split(separator)
    if function == "Fn::Select":
        index, items = argument
        return (items if isinstance(items, list) else again(items))[int(index)]
    raise AssertionError(f"unexpected intrinsic {function}")


def stack_id(stack_name: str, uuid: str) -> str:
    return f"arn:aws:cloudformation:eu-west-1:123456789012:stack/{stack_name}/{uuid}"


#: Two CloudFormation stacks made from the same construct ids: another stack name (or the same stack
#: deleted and created again) is another stack, with a UUID of its own.
TWO_STACKS = (
    ("Blue", stack_id("Blue", "1c2fa620-982a-11e3-aff7-50e2416294e0")),
    ("Green", stack_id("Green", "6e1d2b40-0f3a-11ef-8a55-0a1b2c3d4e5f")),
)
