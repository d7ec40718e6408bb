"""Lambda functions, versions, aliases and event source mappings, described for the local workers and pollers.

Nothing is created on the endpoint: functions become :class:`~patterns.local.model.LocalFunction` s
(code from the cloud assembly, or inline code written to a folder) and mappings
:class:`~patterns.local.model.EventSource` s.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from .intrinsics import NO_VALUE, Unresolvable
from .model import ACCOUNT, EventSource, LocalFunction
from .provision_stack import NotLocal, Resource, StackProvisionerBase, attribute_string, flag

# Service limit on physical names.
_FUNCTION_NAME_LIMIT = 64

_DEFAULT_BATCH_SIZES = {"sqs": 10, "dynamodb": 100, "kinesis": 100}


class LambdaProvisioner(StackProvisionerBase):
    """Describes a stack's functions and event source mappings, and resolves its versions and aliases."""

    def _function(self, resource: Resource) -> None:
        name = resource.prop("FunctionName") or self._physical_name(resource.logical_id, _FUNCTION_NAME_LIMIT)
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"
        # Recorded first: references to a function resolve even when it cannot run locally.
        self._record(resource.logical_id, name, Arn=arn)
        if resource.prop("PackageType") == "Image":
            raise NotLocal("container image functions are not run locally")
        environment, unresolved = self._environment(resource)
        function = LocalFunction(
            stack=self.stack.name,
            logical_id=resource.logical_id,
            name=name,
            arn=arn,
            code_dir=self._code_dir(resource),
            handler=resource.required("Handler"),
            runtime=resource.required("Runtime"),
            timeout_seconds=int(resource.prop("Timeout", 3)),
            memory_mb=int(resource.prop("MemorySize", 128)),
            environment=environment,
            unresolved=unresolved,
        )
        self.local.functions[resource.logical_id] = function
        self.run.functions[name] = function

    def _code_dir(self, resource: Resource) -> Path:
        """The function's asset folder in the assembly, or a folder holding its inline code."""
        code = resource.properties.get("Code", {})
        if "ZipFile" in code:
            inline = resource.resolver.resolve_string(code["ZipFile"], f"{resource.logical_id}.Code.ZipFile")
            return _inline_code_dir(inline)
        asset_path = resource.metadata.get("aws:asset:path")
        if asset_path:
            code_dir: Path | None = self.stack.assembly_dir / asset_path
        else:  # synthesized without asset metadata (outside the CDK CLI): ask the asset manifests
            s3_key = resource.resolver.resolve(code.get("S3Key"), f"{resource.logical_id}.Code.S3Key")
            code_dir = self._asset_sources().get(s3_key)
        if code_dir is None:
            raise NotLocal("its code is neither inline nor an asset of the cloud assembly")
        if not code_dir.is_dir():
            raise NotLocal(f"its code asset {code_dir} is not a folder (synthesize the app again)")
        return code_dir

    def _asset_sources(self) -> dict[str, Path]:
        """Where each file asset of the assembly comes from, by the object key it is uploaded as."""
        if self._asset_sources_by_key is None:
            self._asset_sources_by_key = {}
            for manifest in sorted(self.stack.assembly_dir.glob("*.assets.json")):
                for asset in json.loads(manifest.read_text(encoding="utf-8")).get("files", {}).values():
                    source = self.stack.assembly_dir / asset["source"]["path"]
                    for destination in asset.get("destinations", {}).values():
                        self._asset_sources_by_key[destination["objectKey"]] = source
        return self._asset_sources_by_key

    def _environment(self, resource: Resource) -> tuple[dict[str, str], dict[str, str]]:
        """Resolve each variable on its own, so one unresolvable value does not lose the others."""
        variables = resource.properties.get("Environment", {}).get("Variables", {})
        resolved: dict[str, str] = {}
        unresolved: dict[str, str] = {}
        for variable, value in variables.items():
            try:
                result = resource.resolver.resolve(value, f"{resource.logical_id}.Environment.{variable}")
            except Unresolvable as problem:
                unresolved[variable] = problem.reason
                continue
            if result is not NO_VALUE:
                resolved[variable] = attribute_string(result)
        return resolved, unresolved

    def _version(self, resource: Resource) -> None:
        arn = f"{self._function_arn(resource.required('FunctionName'))}:1"
        self._record(resource.logical_id, arn, Version="1", FunctionArn=arn)

    def _alias(self, resource: Resource) -> None:
        arn = f"{self._function_arn(resource.required('FunctionName'))}:{resource.required('Name')}"
        self._record(resource.logical_id, arn, AliasArn=arn)

    def _function_arn(self, reference: str) -> str:
        """The unqualified ARN of a function given by name, ARN or qualified ARN."""
        if reference.startswith("arn:"):
            return ":".join(reference.split(":")[:7])
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{reference.partition(':')[0]}"

    def _event_source_mapping(self, resource: Resource) -> None:
        function_arn = self._function_arn(resource.required("FunctionName"))
        function = self.run.functions.get(function_arn.split(":")[6])
        if function is None:
            raise NotLocal(f"its function {function_arn} does not run locally")
        source_arn = resource.required("EventSourceArn")
        kind = _event_source_kind(source_arn)
        retries = resource.prop("MaximumRetryAttempts")
        on_failure = ((resource.prop("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self.local.event_sources.append(
            EventSource(
                stack=self.stack.name,
                logical_id=resource.logical_id,
                function=function,
                kind=kind,
                source_arn=source_arn,
                batch_size=int(resource.prop("BatchSize", _DEFAULT_BATCH_SIZES[kind])),
                batching_window_seconds=int(resource.prop("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures" in resource.prop("FunctionResponseTypes", []),
                queue_url=self.run.queue_urls.get(source_arn) if kind == "sqs" else None,
                stream_arn=source_arn if kind in ("dynamodb", "kinesis") else None,
                starting_position=resource.prop("StartingPosition"),
                bisect_on_error=flag(resource.prop("BisectBatchOnFunctionError", False)),
                maximum_retry_attempts=None if retries is None or int(retries) == -1 else int(retries),
                on_failure_arn=on_failure,
                tumbling_window_seconds=int(resource.prop("TumblingWindowInSeconds", 0)),
                enabled=flag(resource.prop("Enabled", True)),
            )
        )
        self._record(resource.logical_id, self._stable_uuid(resource.logical_id))


def _event_source_kind(source_arn: str) -> str:
    parts = source_arn.split(":")
    service = parts[2] if len(parts) > 2 else source_arn
    if service == "sqs":
        return "sqs"
    if service == "dynamodb" and "/stream/" in source_arn:
        return "dynamodb"
    if service == "kinesis":
        return "kinesis"
    raise NotLocal(f"{service} event sources are not polled locally")


def _inline_code_dir(code: str) -> Path:
    """A folder holding inline code as ``index.py``, named after its content so runs share it."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "patterns-local-inline" / digest
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.py").write_text(code, encoding="utf-8")
    return folder
