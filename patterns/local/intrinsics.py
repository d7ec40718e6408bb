"""Resolve CloudFormation intrinsic functions against the values a local run gave its resources.

Supported: ``Ref`` (resources and pseudo parameters), ``Fn::GetAtt`` (list and dotted forms),
``Fn::Join``, ``Fn::Sub`` (both forms, ``${!Literal}`` escapes), ``Fn::Select``, ``Fn::Split``,
``Fn::If`` with the template's ``Conditions`` (``Fn::Equals``, ``Fn::And``, ``Fn::Or``,
``Fn::Not``, ``Condition``). Anything else - ``Fn::ImportValue``, parameters without a default,
attributes nobody recorded - raises :class:`Unresolvable` naming where it was met and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .model import ACCOUNT, REGION, LocalRunError, LocalStack

NO_VALUE = object()  # what {"Ref": "AWS::NoValue"} resolves to; dropped from lists and objects

_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class Unresolvable(LocalRunError):
    """An intrinsic the local run cannot give a value to."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason


def pseudo_parameters(stack_name: str, region: str = REGION, account: str = ACCOUNT) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/local",
        "AWS::NotificationARNs": [],  # type: ignore[dict-item]
    }


class Resolver:
    """Evaluates intrinsics of one template.

    ``refs`` maps logical ids (resources and parameters) to their ``Ref`` values; ``attributes``
    maps ``(logical id, attribute)`` to ``Fn::GetAtt`` values; ``pseudo`` holds the pseudo parameters.
    """

    def __init__(
        self,
        refs: Mapping[str, Any],
        attributes: Mapping[tuple[str, str], Any],
        pseudo: Mapping[str, Any],
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        self.refs = refs
        self.attributes = attributes
        self.pseudo = pseudo
        self.conditions = conditions or {}

    def resolve(self, value: Any, where: str = "") -> Any:
        if isinstance(value, list):
            items = [self.resolve(item, f"{where}[{index}]") for index, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            handler = _FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, argument, f"{where}/{key}" if where else key)
            if key.startswith("Fn::"):
                raise Unresolvable(where, f"{key} is not supported locally")
        resolved = {key: self.resolve(item, f"{where}.{key}" if where else key) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def resolve_string(self, value: Any, where: str = "") -> str:
        resolved = self.resolve(value, where)
        if isinstance(resolved, (dict, list)) or resolved is NO_VALUE:
            raise Unresolvable(where, f"expected a string, got {resolved!r}")
        return str(resolved)

    # -- the functions -------------------------------------------------------------------------

    def _ref(self, name: Any, where: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.refs:
            return self.refs[name]
        raise Unresolvable(where, f"Ref to {name!r}, which has no local value")

    def _get_att(self, argument: Any, where: str) -> Any:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        elif isinstance(argument, list) and len(argument) == 2:
            logical_id, attribute = argument[0], self.resolve_string(argument[1], where)
        else:
            raise Unresolvable(where, f"malformed Fn::GetAtt {argument!r}")
        key = (logical_id, attribute)
        if key in self.attributes:
            return self.attributes[key]
        raise Unresolvable(where, f"Fn::GetAtt {logical_id}.{attribute} has no local value")

    def _join(self, argument: Any, where: str) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise Unresolvable(where, f"malformed Fn::Join {argument!r}")
        delimiter = self.resolve_string(argument[0], where)
        parts = self.resolve(argument[1], where)
        if not isinstance(parts, list):
            raise Unresolvable(where, "Fn::Join needs a list")
        return delimiter.join(str(part) for part in parts)

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
            text, variables = argument[0], self.resolve(argument[1], where)
        else:
            raise Unresolvable(where, f"malformed Fn::Sub {argument!r}")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return str(self._get_att([logical_id, attribute], where))
            return str(self._ref(name, where))

        return _SUB_VARIABLE.sub(substitute, text)

    def _select(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise Unresolvable(where, f"malformed Fn::Select {argument!r}")
        index = int(self.resolve(argument[0], where))
        items = self.resolve(argument[1], where)
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise Unresolvable(where, f"Fn::Select index {index} out of range")
        return items[index]

    def _split(self, argument: Any, where: str) -> list[str]:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise Unresolvable(where, f"malformed Fn::Split {argument!r}")
        return self.resolve_string(argument[1], where).split(self.resolve_string(argument[0], where))

    def _if(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise Unresolvable(where, f"malformed Fn::If {argument!r}")
        chosen = argument[1] if self.condition(argument[0], where) else argument[2]
        return self.resolve(chosen, where)

    def condition(self, name: str, where: str = "") -> bool:
        if name not in self.conditions:
            raise Unresolvable(where, f"condition {name!r} is not defined")
        return bool(self._evaluate(self.conditions[name], f"Conditions.{name}"))

    def _evaluate(self, expression: Any, where: str) -> Any:
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, argument),) = expression.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(item, where) for item in argument)
                return left == right
            if key == "Fn::And":
                return all(self._evaluate(item, where) for item in argument)
            if key == "Fn::Or":
                return any(self._evaluate(item, where) for item in argument)
            if key == "Fn::Not":
                return not self._evaluate(argument[0], where)
            if key == "Condition":
                return self.condition(argument, where)
        return self.resolve(expression, where)


_FUNCTIONS: dict[str, Callable[[Resolver, Any, str], Any]] = {
    "Ref": Resolver._ref,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Join": Resolver._join,
    "Fn::Sub": Resolver._sub,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::If": Resolver._if,
    "Condition": lambda self, name, where: self.condition(name, where),
}


def stack_resolver(stack: LocalStack, region: str = REGION) -> Resolver:
    """A resolver over a provisioned stack's recorded values."""
    return Resolver(
        stack.refs,
        stack.attributes,
        pseudo_parameters(stack.name, region),
        stack.template.get("Conditions", {}),
    )
