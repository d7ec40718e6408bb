"""Snapshot tests for your own CI: templates that change only when the infrastructure does.

A synthesized template carries values that change with every edit of a handler or a machine: asset
hashes (S3 keys, asset metadata), the hash ``current_version`` puts in a version's logical id (and
every reference to it), and metadata naming local paths. ``normalized_template`` replaces them with
stable placeholders, so a snapshot of it changes when a resource, a property or a permission does,
and not when a function's code does.

With pytest and syrupy::

    from aws_cdk import App
    from syrupy.extensions.json import JSONSnapshotExtension
    from patterns.testing import normalized_template

    from my_app.stacks import ServiceStack

    def test_service_template(snapshot):
        stack = ServiceStack(App(), "Service")
        assert normalized_template(stack) == snapshot.use_extension(JSONSnapshotExtension)

Any snapshot tool that compares JSON-serialisable values works the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

#: What replaces an asset hash (64 hex digits: S3 keys, asset parameters, image tags).
ASSET_HASH = "<asset-hash>"
#: What replaces the code-and-configuration hash ``current_version`` adds to a version's logical id.
VERSION_HASH = "<version-hash>"
#: Resource metadata keys that name local paths or build details, dropped by ``normalized_template``.
VOLATILE_METADATA = ("aws:asset:path", "aws:asset:is-bundled", "aws:asset:property", "aws:cdk:path")

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
# lambda.Function.current_version: "<Function id>CurrentVersion<8 hex of the path><32 hex of the content>".
_VERSION_ID = re.compile(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}")


def normalized_template(source: Any | Mapping[str, Any]) -> dict[str, Any]:
    """The template of ``source`` with asset hashes, version hashes and local metadata made stable.

    Args:
        source: a ``Stack`` (synthesized here, as ``Template.from_stack`` does), an
            ``assertions.Template``, or a template already loaded as a dict (e.g. from ``cdk.out``).

    Returns:
        A new dict; ``source`` is not changed. Everything else in the template is kept as
        synthesized, so the snapshot still shows every resource, property and policy.
    """
    template = _as_dict(source)
    text = json.dumps(template, sort_keys=True)
    text = _ASSET_HASH.sub(ASSET_HASH, text)
    text = _VERSION_ID.sub(rf"\1{VERSION_HASH}", text)
    normalized: dict[str, Any] = json.loads(text)
    for resource in normalized.get("Resources", {}).values():
        metadata = resource.get("Metadata")
        if metadata:
            for key in VOLATILE_METADATA:
                metadata.pop(key, None)
            if not metadata:
                del resource["Metadata"]
    return normalized


def _as_dict(source: Any | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return dict(source)
    from aws_cdk import Stack
    from aws_cdk.assertions import Template

    if isinstance(source, Template):
        return source.to_json()
    if isinstance(source, Stack):
        return Template.from_stack(source).to_json()
    raise TypeError(f"normalized_template takes a Stack, an assertions.Template or a dict, got {type(source).__name__}")
