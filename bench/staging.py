"""Handler staging and environments: each handler staged as CDK stages it, with its deployed environment."""

from __future__ import annotations

from pathlib import Path

from benchlib import (
    LAMBDA_RUNTIME_ENV,
    LAMBDA_SRC,
    asset_excludes,
    fingerprint,
    function_assets,
    handler_folders,
    source_required_env,
    stage_folder,
)

BASELINE = "_baseline"
BASELINE_SOURCE = '''"""Cold-init baseline: what any handler pays at least, boto3 and one client."""
import boto3

client = boto3.client("dynamodb")


def handler(event, context):
    return None
'''

#: A second, informational baseline: the same client made with botocore alone (no boto3 session layer),
#: which is how the bundled handlers make theirs.
BOTOCORE_BASELINE = "_baseline_botocore"
BOTOCORE_BASELINE_SOURCE = '''"""Cold-init baseline without boto3: botocore and one client."""
import botocore.session

client = botocore.session.get_session().create_client("dynamodb")


def handler(event, context):
    return None
'''


class Handlers:
    """Each handler staged as CDK stages it, matched to its asset in cdk.out and its deployed env."""

    def __init__(self, scratch: Path):
        self.excludes = asset_excludes()
        self.names, self.skipped_folders = handler_folders()
        self.stage_root = scratch / "stage"
        self.folders: dict[str, Path] = {}
        for name in self.names:
            self.folders[name] = stage_folder(LAMBDA_SRC / name, self.stage_root / name, self.excludes)
        baseline = self.stage_root / BASELINE
        baseline.mkdir(parents=True)
        (baseline / "app.py").write_text(BASELINE_SOURCE)
        self.folders[BASELINE] = baseline
        botocore_baseline = self.stage_root / BOTOCORE_BASELINE
        botocore_baseline.mkdir(parents=True)
        (botocore_baseline / "app.py").write_text(BOTOCORE_BASELINE_SOURCE)
        self.folders[BOTOCORE_BASELINE] = botocore_baseline
        self.fingerprints = {fingerprint(self.folders[name]): name for name in self.names}
        self.env: dict[str, dict] = {name: {} for name in self.names}
        self.env_source: dict[str, str] = {}
        self.functions: list[dict] = []

    def attach_synth(self, outdir: Path, templates: dict[str, dict]) -> None:
        self.functions = function_assets(outdir, templates)
        for function in self.functions:
            asset = function["asset_dir"]
            function["handler"] = self.fingerprints.get(fingerprint(asset)) if asset else None
            name = function["handler"]
            if name and name not in self.env_source:
                self.env[name] = function["environment"]
                self.env_source[name] = (
                    f"{function['stack']}/{function['logical_id']} (synthesized template; tokens as dummies)"
                )
        for name in self.names:
            if name not in self.env_source:
                self.env[name] = source_required_env(self.folders[name] / "app.py")
                self.env_source[name] = "no demo stack uses it: variables its source requires, as dummies"

    def lambda_env(self, name: str, base: dict) -> dict:
        env = dict(base)
        env.update(LAMBDA_RUNTIME_ENV)
        env.update(
            {
                "LAMBDA_TASK_ROOT": str(self.folders[name]),
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "_HANDLER": "app.handler",
                "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
                "POWERTOOLS_SERVICE_NAME": name,
            }
        )
        env.update(self.env.get(name, {}))
        return env
