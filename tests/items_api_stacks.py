"""ApiLambdaTable in a stack of its own, for the construct tests."""

from __future__ import annotations

from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from patterns import ApiLambdaTable

#: Code for a function of the user's own (its contents are never run by these tests).
INLINE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")


def new_stack() -> Stack:
    return Stack(App(), "Test")


def synth(**props) -> Template:
    """The template of a stack holding ``ApiLambdaTable(stack, "Items", **props)``."""
    stack = new_stack()
    ApiLambdaTable(stack, "Items", **props)
    return Template.from_stack(stack)
