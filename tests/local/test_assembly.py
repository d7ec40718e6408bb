"""Reading cloud assemblies: the demo app's, and small hand-made ones for ordering and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from patterns.local.assembly import load_assembly
from patterns.local.model import LocalRunError
from stacks import DEMO_STACKS, EXTRA_DEMO_STACKS
from stacks.global_items_demo import DEFAULT_REGIONS


def _template(marker: str) -> dict[str, Any]:
    return {"Resources": {marker: {"Type": "AWS::SQS::Queue"}}}


def _stack_artifact(template_file: str, dependencies: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {
        "type": "aws:cloudformation:stack",
        "properties": {"templateFile": template_file, **extra.pop("properties", {})},
        "dependencies": list(dependencies),
        **extra,
    }


def _write_assembly(directory: Path, artifacts: dict[str, dict[str, Any]]) -> Path:
    """A manifest with these artifacts, and for each stack a template holding one resource named after it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    for artifact_id, artifact in artifacts.items():
        if artifact["type"] == "aws:cloudformation:stack":
            (directory / artifact["properties"]["templateFile"]).write_text(json.dumps(_template(artifact_id)))
    return directory


def test_reads_every_demo_stack(demo_app):
    stacks = load_assembly(demo_app.outdir)

    # ApiLambdaTable adds the stack holding API Gateway's account-level setting (one per region for bound stacks).
    settings = ["ApiGatewayAccountLogging"] + [f"ApiGatewayAccountLogging-000000000000-{r}" for r in DEFAULT_REGIONS]
    assert sorted(stack.name for stack in stacks) == sorted([*DEMO_STACKS, *EXTRA_DEMO_STACKS, *settings])
    for stack in stacks:
        assert stack.assembly_dir == demo_app.outdir
        assert stack.template == demo_app.template(stack.name)


def test_reads_only_the_stacks_asked_for(demo_app):
    stacks = load_assembly(demo_app.outdir, ["ItemsServiceDemo", "FanoutDemo", "ItemsServiceDemo"])

    assert [stack.name for stack in stacks] == ["FanoutDemo", "ItemsServiceDemo"]  # manifest order, once each


def test_a_missing_manifest_says_to_synthesize_first(tmp_path):
    with pytest.raises(LocalRunError, match=r"manifest\.json.*(make synth|cdk synth)"):
        load_assembly(tmp_path / "cdk.out")


def test_an_unknown_stack_lists_the_available_ones(demo_app):
    with pytest.raises(LocalRunError) as raised:
        load_assembly(demo_app.outdir, ["ItemsServiceDemo", "NoSuchStack"])

    message = str(raised.value)
    assert "'NoSuchStack'" in message
    assert all(name in message for name in DEMO_STACKS)


def test_stacks_come_after_the_stacks_they_depend_on(tmp_path):
    assembly = _write_assembly(
        tmp_path,
        {
            "Api": _stack_artifact("Api.template.json", ("Api.assets", "Data")),
            "Api.assets": {"type": "cdk:asset-manifest", "properties": {"file": "Api.assets.json"}},
            "Data": _stack_artifact("Data.template.json", ("Network",)),
            "Network": _stack_artifact("Network.template.json"),
        },
    )

    assert [stack.name for stack in load_assembly(assembly)] == ["Network", "Data", "Api"]
    # Dependencies that were not asked for are not added.
    assert [stack.name for stack in load_assembly(assembly, ["Api", "Network"])] == ["Network", "Api"]


def test_a_stack_is_found_by_artifact_id_display_name_or_stack_name(tmp_path):
    assembly = _write_assembly(
        tmp_path,
        {
            "ProdServiceA1B2C3D4": _stack_artifact(
                "ProdServiceA1B2C3D4.template.json",
                displayName="Prod/Service",
                properties={"stackName": "Prod-Service"},
            ),
        },
    )

    for name in ("ProdServiceA1B2C3D4", "Prod/Service", "Prod-Service"):
        (stack,) = load_assembly(assembly, [name])
        assert stack.name == "Prod-Service"  # the CloudFormation stack name: local physical names derive from it
        assert "ProdServiceA1B2C3D4" in stack.template["Resources"]


def test_stacks_of_stages_are_read_from_their_nested_assemblies(tmp_path):
    stage_dir = _write_assembly(
        tmp_path / "assembly-Prod",
        {
            "ProdService": _stack_artifact(
                "ProdService.template.json", displayName="Prod/Service", properties={"stackName": "Prod-Service"}
            ),
        },
    )
    assembly = _write_assembly(
        tmp_path,
        {
            "Tools": _stack_artifact("Tools.template.json"),
            "assembly-Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}},
        },
    )

    stacks = load_assembly(assembly)

    assert [(stack.name, stack.assembly_dir) for stack in stacks] == [("Tools", assembly), ("Prod-Service", stage_dir)]


def test_a_missing_template_is_reported(tmp_path):
    assembly = _write_assembly(tmp_path, {"Api": _stack_artifact("Api.template.json")})
    (assembly / "Api.template.json").unlink()

    with pytest.raises(LocalRunError, match="template of stack Api"):
        load_assembly(assembly)


def test_a_dependency_cycle_is_reported(tmp_path):
    assembly = _write_assembly(
        tmp_path,
        {
            "A": _stack_artifact("A.template.json", ("B",)),
            "B": _stack_artifact("B.template.json", ("A",)),
        },
    )

    with pytest.raises(LocalRunError, match="cycle: A -> B -> A"):
        load_assembly(assembly)
