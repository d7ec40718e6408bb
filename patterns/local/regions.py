"""Stacks bound to different regions: one local run per region, all on one local AWS endpoint.

The local endpoint keeps each region's resources apart (it reads the region from each request's
signature), as AWS does. Each region's run gets its own ports: the first region's from ``port``,
the next region's from ``port + REGION_PORT_STEP``, and so on (any free ports when ``port`` is 0).

A DynamoDB global table is made in its own region by that region's run; its other replica regions
in the run get a table of the same name, keys and stream, made here. **Replication between them is
not emulated**: a write in one region is not seen in another. The run says so when it starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .assembly import load_assembly
from .endpoint import MotoServer, wait_until_up
from .model import LocalRunError
from .provision_stack import Clients, error_code
from .runner import LocalRun, LocalRunOptions, ServedApi, ServedSignIn

Log = Callable[[str], None]
#: Ports between the first ports of two regions' runs.
REGION_PORT_STEP = 100
REPLICATION_NOTE = (
    "replication between regions is not emulated: each region's replica of {table} is a separate local table"
)
_UNKNOWN_REGION = "unknown-region"


def stack_regions(assembly_dir: Path) -> dict[str, str | None]:
    """Stack name (artifact id and stack name) -> the region it is bound to, None when env-agnostic."""
    manifest = json.loads((Path(assembly_dir) / "manifest.json").read_text(encoding="utf-8"))
    regions: dict[str, str | None] = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        region = artifact.get("environment", "").rsplit("/", 1)[-1]
        bound = region if region and region != _UNKNOWN_REGION else None
        regions[artifact_id] = bound
        regions[artifact.get("properties", {}).get("stackName", artifact_id)] = bound
    return regions


def local_run(options: LocalRunOptions, log: Log = print) -> LocalRun | RegionalRuns:
    """A ``LocalRun`` when the stacks share one region (env-agnostic ones count as ``options.region``), else
    ``RegionalRuns``."""
    groups = _by_region(options)
    return LocalRun(options, log) if len(groups) <= 1 else RegionalRuns(options, groups, log)


class RegionalRuns:
    """One ``LocalRun`` per region, sharing one endpoint; a context manager like ``LocalRun``."""

    def __init__(self, options: LocalRunOptions, groups: dict[str, list[str]], log: Log = print) -> None:
        self.options = options
        self.groups = groups
        self.log = log
        self.runs: dict[str, LocalRun] = {}
        self._server: MotoServer | None = None

    @property
    def apis(self) -> list[ServedApi]:
        return [api for run in self.runs.values() for api in run.apis]

    @property
    def sign_ins(self) -> list[ServedSignIn]:
        return [sign_in for run in self.runs.values() for sign_in in run.sign_ins]

    def __enter__(self) -> RegionalRuns:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        endpoint = self._endpoint()
        for index, (region, stacks) in enumerate(self.groups.items()):
            port = 0 if self.options.port == 0 else self.options.port + index * REGION_PORT_STEP
            options = replace(self.options, stacks=stacks, endpoint=endpoint, region=region, port=port)
            run = LocalRun(options, self._region_log(region))
            self.runs[region] = run
            run.start()
        for table, regions in self._mirror_global_tables(endpoint).items():
            self.log(f"global table {table} in {', '.join(regions)}: " + REPLICATION_NOTE.format(table=table))

    def stop(self) -> None:
        for run in reversed(list(self.runs.values())):
            run.stop()
        self.runs.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def wait(self) -> None:
        next(iter(self.runs.values())).wait()

    def _region_log(self, region: str) -> Callable[[str], None]:
        """The run's log, each line marked with the region it comes from."""

        def log(message: str) -> None:
            self.log(f"({region}) {message}")

        return log

    def _endpoint(self) -> str:
        if self.options.endpoint:
            wait_until_up(self.options.endpoint, timeout=10)
            return self.options.endpoint.rstrip("/")
        self._server = MotoServer().start()
        return self._server.endpoint

    def _mirror_global_tables(self, endpoint: str) -> dict[str, list[str]]:
        """Make each global table of a run in the run's other regions that are its replica regions."""
        mirrored: dict[str, list[str]] = {}
        for home, run in self.runs.items():
            assert run.environment is not None
            for stack in run.environment.stacks:
                for logical_id, resource in stack.template.get("Resources", {}).items():
                    if resource.get("Type") != "AWS::DynamoDB::GlobalTable":
                        continue
                    name = stack.refs.get(logical_id)
                    if name is None:  # not provisioned in this run
                        continue
                    replicas = [r.get("Region") for r in resource.get("Properties", {}).get("Replicas", [])]
                    others = [region for region in replicas if region in self.runs and region != home]
                    for region in others:
                        _create_like(Clients(endpoint, region)("dynamodb"), Clients(endpoint, home)("dynamodb"), name)
                    mirrored[name] = [home, *others]
        return mirrored


def _by_region(options: LocalRunOptions) -> dict[str, list[str]]:
    """Selected stacks (with what they depend on) by region; env-agnostic stacks go to ``options.region``."""
    stacks = load_assembly(options.assembly_dir, options.stacks)  # first: it explains a missing or wrong assembly
    regions = stack_regions(options.assembly_dir)
    groups: dict[str, list[str]] = {}
    for stack in stacks:
        groups.setdefault(regions.get(stack.name) or options.region, []).append(stack.name)
    return groups


def _create_like(target: Any, source: Any, name: str) -> None:
    table = source.describe_table(TableName=name)["Table"]
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    stream = table.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = stream
    try:
        target.create_table(**request)
    except ClientError as error:
        if error_code(error) != "ResourceInUseException":
            raise LocalRunError(f"cannot make the local replica of {name}: {error}") from error
