"""The order resources are provisioned in: each after everything it references, else in template order."""

from __future__ import annotations

import heapq
import re
from typing import Any

from .model import LocalRunError

_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


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
