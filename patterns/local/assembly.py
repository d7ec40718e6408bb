"""Read a synthesized cloud assembly (``cdk.out``) into the stack templates a local run needs.

Only ``manifest.json`` and the files it names are read, so this works on any CDK app's output,
whatever language synthesized it. Stacks inside stages (nested assemblies) are read too. A stack
can be asked for by its artifact id, its display name (``Stage/Stack``, what ``cdk deploy``
accepts) or its CloudFormation stack name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model import LocalRunError, StackTemplate

MANIFEST = "manifest.json"
STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY_ARTIFACT = "cdk:cloud-assembly"


@dataclass(frozen=True)
class _StackArtifact:
    artifact_id: str
    stack_name: str  # what CloudFormation calls it; physical names locally are built from it
    display_name: str
    template_file: Path
    assembly_dir: Path  # the (possibly nested) assembly its asset paths are relative to
    dependencies: tuple[str, ...]  # artifact ids, including non-stack ones such as asset manifests

    @property
    def names(self) -> tuple[str, ...]:
        return (self.artifact_id, self.display_name, self.stack_name)


def load_assembly(assembly_dir: Path, stacks: Sequence[str] | None = None) -> list[StackTemplate]:
    """The assembly's stacks (all of them, or those named in ``stacks``), dependencies first."""
    # Absolute, so asset folders stay valid for workers that run with the asset folder as cwd.
    assembly_dir = Path(assembly_dir).resolve()
    artifacts = _read_artifacts(assembly_dir)
    if not artifacts:
        raise LocalRunError(f"the cloud assembly at {assembly_dir} holds no stacks")
    selected = artifacts if stacks is None else _select(artifacts, stacks, assembly_dir)
    return [_read_template(artifact) for artifact in _dependency_order(artifacts, selected)]


def _read_artifacts(assembly_dir: Path) -> list[_StackArtifact]:
    """Every stack artifact of the assembly and of the stages' nested assemblies, in manifest order."""
    manifest = _read_json(
        assembly_dir / MANIFEST,
        missing=f"no cloud assembly at {assembly_dir} ({MANIFEST} not found): run `make synth` or `cdk synth` first",
    )
    found: list[_StackArtifact] = []
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        properties = artifact.get("properties", {})
        if artifact.get("type") == STACK_ARTIFACT:
            found.append(
                _StackArtifact(
                    artifact_id=artifact_id,
                    stack_name=properties.get("stackName", artifact_id),
                    display_name=artifact.get("displayName", artifact_id),
                    template_file=assembly_dir / properties["templateFile"],
                    assembly_dir=assembly_dir,
                    dependencies=tuple(artifact.get("dependencies", ())),
                )
            )
        elif artifact.get("type") == NESTED_ASSEMBLY_ARTIFACT:
            found.extend(_read_artifacts(assembly_dir / properties["directoryName"]))
    return found


def _select(artifacts: list[_StackArtifact], wanted: Sequence[str], assembly_dir: Path) -> list[_StackArtifact]:
    unknown = [name for name in wanted if not any(name in artifact.names for artifact in artifacts)]
    if unknown:
        available = ", ".join(artifact.display_name for artifact in artifacts)
        raise LocalRunError(
            f"no stack named {', '.join(map(repr, unknown))} in the cloud assembly at {assembly_dir}; "
            f"it has: {available}"
        )
    return [artifact for artifact in artifacts if any(name in artifact.names for name in wanted)]


def _dependency_order(artifacts: list[_StackArtifact], selected: list[_StackArtifact]) -> list[_StackArtifact]:
    """Order the selected stacks so each comes after those it depends on; manifest order breaks ties.

    Dependencies are followed through stacks that were not selected (and asset manifests are
    ignored), but only the selected stacks are returned: the user asked for these only.
    """
    by_id = {artifact.artifact_id: artifact for artifact in artifacts}
    wanted = {artifact.artifact_id for artifact in selected}
    ordered: list[_StackArtifact] = []
    visited: set[str] = set()

    def visit(artifact: _StackArtifact, path: tuple[str, ...]) -> None:
        if artifact.artifact_id in visited:
            return
        if artifact.artifact_id in path:
            cycle = " -> ".join((*path, artifact.artifact_id))
            raise LocalRunError(f"the cloud assembly's stacks depend on each other in a cycle: {cycle}")
        for dependency in artifact.dependencies:
            if dependency in by_id:
                visit(by_id[dependency], (*path, artifact.artifact_id))
        visited.add(artifact.artifact_id)
        if artifact.artifact_id in wanted:
            ordered.append(artifact)

    for artifact in selected:
        visit(artifact, ())
    return ordered


def _read_template(artifact: _StackArtifact) -> StackTemplate:
    template = _read_json(
        artifact.template_file,
        missing=f"the template of stack {artifact.display_name} ({artifact.template_file}) is missing: "
        "run `make synth` or `cdk synth` again",
    )
    return StackTemplate(name=artifact.stack_name, template=template, assembly_dir=artifact.assembly_dir)


def _read_json(path: Path, missing: str) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    except FileNotFoundError:
        raise LocalRunError(missing) from None
    except (OSError, ValueError) as error:
        raise LocalRunError(f"cannot read {path}: {error}") from None
