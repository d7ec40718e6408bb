"""The documentation site: generated files up to date, every page in the nav, every stack a page.

The site itself is built by `make docs` (MkDocs, strict); these tests only read files.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from stacks import DEMO_STACKS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REGENERATE = "run `make docs-generate` (python docs/generate.py) and commit docs/generated/"


def _load_generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


class _MkDocsLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, whose `!!python/name:` tags name objects this test does not need."""


_MkDocsLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)


@pytest.fixture(scope="module")
def mkdocs_config() -> dict:
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_MkDocsLoader)


def _nav_pages(entries) -> list[str]:
    pages = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _section(nav: list, title: str) -> dict[str, str]:
    for entry in nav:
        if isinstance(entry, dict) and title in entry:
            return {name: page for item in entry[title] for name, page in item.items()}
    raise AssertionError(f"mkdocs.yml has no nav section {title!r}")


def _page_files() -> set[str]:
    generated = DOCS / "generated"
    return {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md") if generated not in path.parents}


def test_generated_files_match_the_templates(demo_app, strict_demo_app):
    expected = generate.render(demo_app.outdir, strict_demo_app.outdir)
    for name, text in expected.items():
        path = DOCS / "generated" / name
        assert path.is_file(), f"docs/generated/{name} is missing: {REGENERATE}"
        assert path.read_text() == text, f"docs/generated/{name} differs from the current templates: {REGENERATE}"
    stale = sorted({path.name for path in (DOCS / "generated").glob("*.md")} - expected.keys())
    assert stale == [], f"docs/generated/ holds files the generator no longer writes {stale}: {REGENERATE}"


def test_every_demo_stack_has_a_diagram(demo_app):
    files = generate.render(demo_app.outdir)
    for stack in DEMO_STACKS:
        diagram = files[f"{stack}.md"]
        assert "```mermaid\nflowchart " in diagram
        assert "-->" in diagram, f"{stack}: no reference found between its resources"


def test_nav_lists_every_page_and_only_existing_ones(mkdocs_config):
    listed = _nav_pages(mkdocs_config["nav"])
    assert len(listed) == len(set(listed)), "a page is listed twice in the nav"
    assert set(listed) == _page_files(), "mkdocs.yml's nav must list exactly the pages in docs/"


def test_every_demo_stack_has_its_page_with_its_diagram(mkdocs_config):
    pages = _section(mkdocs_config["nav"], "Demo stacks")
    assert sorted(pages) == sorted(DEMO_STACKS), "the nav's 'Demo stacks' must name every demo stack"
    for stack, page in pages.items():
        text = (DOCS / page).read_text()
        assert f'--8<-- "generated/{stack}.md"' in text, f"{page} must include its generated diagram"


def test_snippets_name_existing_generated_files():
    for page in sorted(_page_files()):
        for included in re.findall(r'^--8<-- "([^"]+)"$', (DOCS / page).read_text(), flags=re.MULTILINE):
            assert (DOCS / included).is_file(), f"{page} includes {included}, which does not exist"


def test_every_public_name_has_an_api_reference():
    module = ast.parse((ROOT / "patterns" / "__init__.py").read_text())
    exported = next(
        ast.literal_eval(node.value)
        for node in module.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
    )
    documented = set()
    for page in _page_files():
        documented.update(re.findall(r"^::: patterns\.(\w+)$", (DOCS / page).read_text(), flags=re.MULTILINE))
    assert set(exported) - documented == set(), "add a `::: patterns.<name>` block to the construct's page"


def test_diagram_edges_follow_template_references():
    template = {
        "Resources": {
            "EventsTopicAAAA1111": {"Type": "AWS::SNS::Topic"},
            "InboxQueueBBBB2222": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["InboxDlqCCCC3333", "Arn"]},
                        "maxReceiveCount": 3,
                    }
                },
            },
            "InboxDlqCCCC3333": {"Type": "AWS::SQS::Queue"},
            "SubscriptionDDDD4444": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "EventsTopicAAAA1111"},
                    "Endpoint": {"Fn::GetAtt": ["InboxQueueBBBB2222", "Arn"]},
                    "FilterPolicy": {"event_type": ["order.shipped"]},
                },
            },
            "WorkerFunctionEEEE5555": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Environment": {"Variables": {"TABLE_NAME": {"Ref": "RecordsTableFFFF6666"}}}},
            },
            "WorkerFunctionCurrentVersionABCD12340123456789abcdef0123456789abcdef": {
                "Type": "AWS::Lambda::Version",
                "Properties": {"FunctionName": {"Ref": "WorkerFunctionEEEE5555"}},
            },
            "WorkerAlias99998888": {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "Name": "live",
                    "FunctionName": {"Ref": "WorkerFunctionEEEE5555"},
                    "FunctionVersion": {
                        "Fn::GetAtt": [
                            "WorkerFunctionCurrentVersionABCD12340123456789abcdef0123456789abcdef",
                            "Version",
                        ]
                    },
                },
            },
            "RecordsTableFFFF6666": {"Type": "AWS::DynamoDB::Table"},
            "MappingABCDEF12": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": ["InboxQueueBBBB2222", "Arn"]},
                    "FunctionName": {"Ref": "WorkerAlias99998888"},
                    "BatchSize": 5,
                },
            },
            "WorkerRole12345678": {"Type": "AWS::IAM::Role"},
        }
    }
    chart = generate.Graph.of("Demo", template, {}).mermaid()
    assert chart == generate.Graph.of("Demo", template, {}).mermaid(), "the output must be deterministic"
    for line in (
        'EventsTopic -->|"filter: event_type = order.shipped"| InboxQueue',
        'InboxQueue -.->|"after 3 receives"| InboxDlq',
        'InboxQueue -->|"batches of 5"| WorkerAlias',
        'WorkerAlias -->|"current version"| WorkerFunction',
        'WorkerFunction -->|"TABLE_NAME"| RecordsTable',
    ):
        assert f"    {line}" in chart.splitlines(), f"missing {line!r} in:\n{chart}"
    assert "WorkerRole" not in chart and "CurrentVersion" not in chart
    assert "SQS dead-letter queue" in chart
