"""The stacks of a synthesized cloud assembly, with the environment each deploys to."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: What the manifest says for a stack that names no account and region: any one user's default.
UNKNOWN_ENVIRONMENT = "aws://unknown-account/unknown-region"


@dataclass(frozen=True)
class DeployedStack:
    display_name: str  # construct path, stages included: what `cdk deploy` accepts
    environment: str  # aws://ACCOUNT/REGION, or UNKNOWN_ENVIRONMENT
    template_file: Path

    @property
    def template(self) -> dict:
        return json.loads(self.template_file.read_text())

    @property
    def nested_templates(self) -> list[dict]:
        """Templates of this stack's nested stacks (the assembly writes them beside its own)."""
        prefix = self.template_file.name.removesuffix(".template.json")
        return [
            json.loads(p.read_text()) for p in sorted(self.template_file.parent.glob(f"{prefix}*.nested.template.json"))
        ]


def deployed_stacks(assembly_dir: Path) -> list[DeployedStack]:
    """Every stack of the assembly and of its stages' nested assemblies."""
    found: list[DeployedStack] = []
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    for artifact in manifest.get("artifacts", {}).values():
        properties = artifact.get("properties", {})
        if artifact["type"] == "aws:cloudformation:stack":
            found.append(
                DeployedStack(
                    artifact["displayName"], artifact["environment"], assembly_dir / properties["templateFile"]
                )
            )
        elif artifact["type"] == "cdk:cloud-assembly":
            found.extend(deployed_stacks(assembly_dir / properties["directoryName"]))
    return found
