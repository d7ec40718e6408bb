"""Make synthesized templates comparable across machines and runs."""

from __future__ import annotations

import json
import re

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
# current_version puts a hash of the function's code and configuration in the version's id.
_VERSION_ID = re.compile(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}")
_VOLATILE_METADATA = ("aws:asset:path", "aws:asset:is-bundled", "aws:asset:property", "aws:cdk:path")


def normalize_template(template: dict) -> dict:
    """Replace asset hashes and version hashes; drop metadata that names local paths."""
    text = json.dumps(template, sort_keys=True)
    text = _ASSET_HASH.sub("<asset-hash>", text)
    text = _VERSION_ID.sub(r"\1<version-hash>", text)
    normalized = json.loads(text)
    for resource in normalized.get("Resources", {}).values():
        metadata = resource.get("Metadata")
        if metadata:
            for key in _VOLATILE_METADATA:
                metadata.pop(key, None)
            if not metadata:
                del resource["Metadata"]
    return normalized
