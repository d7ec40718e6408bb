"""patterns.testing: snapshots of a consumer's stacks change with the infrastructure, not with handler code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from patterns import CanaryFunction
from patterns.testing import ASSET_HASH, VERSION_HASH, normalized_template


def consumer_stack(code_dir: Path, *, timeout_seconds: int = 10) -> Stack:
    """A consumer's stack: a canary function (asset code, a published version) built from ``code_dir``."""
    stack = Stack(App(), "Consumer")
    CanaryFunction(
        stack,
        "Orders",
        code=lambda_.Code.from_asset(str(code_dir)),
        handler="app.handler",
        timeout=Duration.seconds(timeout_seconds),
    )
    return stack


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "app.py").write_text("def handler(event, context):\n    return {'statusCode': 200}\n")
    return folder


def test_changing_a_handlers_code_changes_the_template_but_not_its_normalized_snapshot(code_dir):
    before = Template.from_stack(consumer_stack(code_dir)).to_json()
    (code_dir / "app.py").write_text("def handler(event, context):\n    return {'statusCode': 201}\n")
    after = Template.from_stack(consumer_stack(code_dir)).to_json()

    assert before != after  # the asset hash and the version's logical id moved
    assert normalized_template(before) == normalized_template(after)


def test_an_infrastructure_change_still_changes_the_normalized_snapshot(code_dir):
    assert normalized_template(consumer_stack(code_dir)) != normalized_template(
        consumer_stack(code_dir, timeout_seconds=20)
    )


def test_hashes_become_placeholders_and_local_metadata_goes(code_dir):
    normalized = normalized_template(consumer_stack(code_dir))
    text = json.dumps(normalized)
    assert ASSET_HASH in text
    version_ids = [name for name, r in normalized["Resources"].items() if r["Type"] == "AWS::Lambda::Version"]
    assert len(version_ids) == 1 and version_ids[0].endswith(VERSION_HASH)
    for resource in normalized["Resources"].values():
        assert "aws:asset:path" not in resource.get("Metadata", {})
        assert "aws:cdk:path" not in resource.get("Metadata", {})


def test_it_takes_a_stack_a_template_or_a_dict_and_leaves_the_dict_alone(code_dir):
    stack = consumer_stack(code_dir)
    template = Template.from_stack(stack)
    raw = template.to_json()
    copy = json.loads(json.dumps(raw))
    assert normalized_template(stack) == normalized_template(template) == normalized_template(raw)
    assert raw == copy


def test_it_refuses_anything_else():
    with pytest.raises(TypeError, match=r"takes a Stack, an assertions\.Template or a dict"):
        normalized_template("Consumer.template.json")
