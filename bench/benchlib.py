"""Helpers shared by the benchmark's sections: statistics, environments, staging, templates, sizes.

Nothing here imports ``aws_cdk``, ``boto3`` or Powertools, so the parent process stays light and
every measured cost is paid in a fresh child process.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
LAMBDA_SRC = ROOT / "lambda_src"
TESTS_DIR = ROOT / "tests"
RESULT_MARKER = "BENCH_RESULT "

#: What Lambda sets for every function of the demo stacks (arm64, Python 3.14, JSON logs at INFO).
LAMBDA_RUNTIME_ENV = {
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_FORMAT": "JSON",
    "AWS_LAMBDA_LOG_LEVEL": "INFO",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
}


# --- statistics ---------------------------------------------------------------------------------


def summarize(values: Iterable[float]) -> dict:
    """Median and spread (min, max, interquartile range) of repeated measurements."""
    data = sorted(values)
    if not data:
        return {"n": 0}
    summary = {"n": len(data), "median": statistics.median(data), "min": data[0], "max": data[-1]}
    if len(data) >= 2:
        q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
        summary.update(q1=q1, q3=q3, iqr=q3 - q1)
    return summary


def latency_summary(samples_s: list[float]) -> dict:
    """p50/p90/p99 (and mean) of per-invocation latencies, in milliseconds."""
    data = sorted(s * 1000 for s in samples_s)
    cuts = statistics.quantiles(data, n=100, method="inclusive")
    return {
        "n": len(data),
        "p50_ms": statistics.median(data),
        "p90_ms": cuts[89],
        "p99_ms": cuts[98],
        "mean_ms": statistics.fmean(data),
        "min_ms": data[0],
        "max_ms": data[-1],
    }


# --- child processes ----------------------------------------------------------------------------


def venv_path_env() -> dict:
    """The current environment with the venv's bin first on PATH (jsii must use its Node 24)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def clean_aws_env(fake_aws_env: dict, scratch: Path) -> dict:
    """A minimal environment for handler children: no developer profile, no config files, fake keys."""
    env = {name: os.environ[name] for name in ("HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT") if name in os.environ}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env.update(fake_aws_env)
    env.update(
        {
            # As on Lambda: no shared config or credentials files, no instance metadata lookups.
            "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            # The asset has no __pycache__ (ASSET_EXCLUDES) and /var/task is read-only: the handler
            # module is compiled on every cold start, so never cache its bytecode here either.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
        }
    )
    return env


def parse_marker(stdout: str) -> dict:
    """The JSON a child printed after ``RESULT_MARKER`` (its last such line)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    raise ValueError("child printed no result line")


# --- handler folders and their staging ------------------------------------------------------------


def asset_excludes() -> list[str]:
    """``ASSET_EXCLUDES`` from ``patterns/blocks/assets.py``, read without importing aws_cdk."""
    tree = ast.parse((ROOT / "patterns" / "blocks" / "assets.py").read_text())
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == "ASSET_EXCLUDES" for t in targets) and node.value is not None:
            return list(ast.literal_eval(node.value))
    raise RuntimeError("ASSET_EXCLUDES not found in patterns/blocks/assets.py")


def handler_folders() -> tuple[list[str], list[str]]:
    """``(functions with an app.py, folders skipped)`` under ``lambda_src/``."""
    found, skipped = [], []
    for folder in sorted(p for p in LAMBDA_SRC.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        (found if (folder / "app.py").is_file() else skipped).append(folder.name)
    return found, skipped


def stage_folder(source: Path, target: Path, excludes: list[str]) -> Path:
    """Copy ``source`` to ``target`` without the excluded files, as CDK stages an asset."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*excludes))
    return target


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def fingerprint(folder: Path) -> tuple:
    """Relative paths and content hashes of every file: equal fingerprints, equal assets."""
    return tuple((p.relative_to(folder).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest()) for p in _files(folder))


def zip_size(folder: Path, scratch: Path) -> dict:
    """Deflate (level 9) every file of ``folder`` into a zip, as the asset is uploaded; report sizes."""
    scratch.mkdir(parents=True, exist_ok=True)
    archive = scratch / f"{folder.name}.zip"
    files = _files(folder)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            bundle.writestr(info, path.read_bytes(), compresslevel=9)
    return {
        "zipped_bytes": archive.stat().st_size,
        "unzipped_bytes": sum(p.stat().st_size for p in files),
        "files": len(files),
    }


# --- synthesized templates ------------------------------------------------------------------------


def load_templates(outdir: Path, stack_names: Iterable[str]) -> dict[str, dict]:
    paths = {name: outdir / f"{name}.template.json" for name in stack_names}
    return {name: json.loads(path.read_text()) for name, path in paths.items() if path.is_file()}


def stack_names_in(outdir: Path) -> list[str]:
    """The stacks of a cloud assembly ([] when synthesis wrote none, e.g. it failed early)."""
    path = outdir / "manifest.json"
    if not path.is_file():
        return []
    manifest = json.loads(path.read_text())
    return [
        name
        for name, artifact in manifest.get("artifacts", {}).items()
        if artifact.get("type") == "aws:cloudformation:stack"
    ]


def resource_counts(template: dict) -> dict:
    resources = template.get("Resources", {})
    by_type: dict[str, int] = {}
    for resource in resources.values():
        by_type[resource["Type"]] = by_type.get(resource["Type"], 0) + 1
    return {
        "resources": len(resources),
        "functions": by_type.get("AWS::Lambda::Function", 0),
        "by_type": dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def function_assets(outdir: Path, templates: dict[str, dict]) -> list[dict]:
    """Every Lambda function of the templates with the asset folder holding its code."""
    functions = []
    for stack, template in templates.items():
        resources = template.get("Resources", {})
        for logical_id, resource in resources.items():
            if resource.get("Type") != "AWS::Lambda::Function":
                continue
            props = resource.get("Properties", {})
            key = (props.get("Code") or {}).get("S3Key")
            asset_dir = None
            if isinstance(key, str) and key.endswith(".zip"):
                candidate = outdir / f"asset.{key[: -len('.zip')]}"
                asset_dir = candidate if candidate.is_dir() else None
            variables = (props.get("Environment") or {}).get("Variables") or {}
            functions.append(
                {
                    "stack": stack,
                    "logical_id": logical_id,
                    "asset_dir": asset_dir,
                    "environment": {name: _dummy_value(name, value, resources) for name, value in variables.items()},
                }
            )
    return functions


def _dummy_value(name: str, value: Any, resources: dict) -> str:
    """A template value as a plain string: tokens (Ref, GetAtt, ...) become well-formed dummies."""
    if isinstance(value, str):
        return value
    referenced = None
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Ref" and isinstance(argument, str):
            referenced = argument
        elif function == "Fn::GetAtt" and isinstance(argument, list) and argument:
            referenced = argument[0]
    resource_type = (resources.get(referenced) or {}).get("Type", "") if referenced else ""
    service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "service"
    label = f"bench-{referenced or 'token'}"
    if "ARN" in name.upper():
        if service == "lambda":
            return f"arn:aws:lambda:us-east-1:123456789012:function:{label}:1"
        return f"arn:aws:{service}:us-east-1:123456789012:{label}"
    return label


_REQUIRED_ENV = re.compile(r"""(?:os\.environ\[|_required_env\()\s*["']([A-Z0-9_]+)["']""")


def source_required_env(app_py: Path) -> dict:
    """Fallback for a handler no demo stack uses: dummies for the variables its source requires."""
    names = sorted(set(_REQUIRED_ENV.findall(app_py.read_text())))
    return {
        name: (
            "arn:aws:service:us-east-1:123456789012:bench-dummy"
            if "ARN" in name
            else "{}"
            if "PAYLOAD" in name
            else "bench-dummy"
        )
        for name in names
    }


# --- -X importtime ------------------------------------------------------------------------------


_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def parse_importtime(stderr: str, module: str = "app") -> list[dict] | None:
    """The rows of ``module``'s import tree (post-order, as printed), depth relative to it."""
    rows = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append(
                {"name": name, "self_us": int(self_us), "cum_us": int(cumulative_us), "depth": (len(indent) - 1) // 2}
            )
    end = next((i for i in range(len(rows) - 1, -1, -1) if rows[i]["name"] == module and rows[i]["depth"] == 0), None)
    if end is None:
        return None
    start = end
    while start > 0 and rows[start - 1]["depth"] > 0:
        start -= 1
    return rows[start : end + 1]


def top_package(name: str) -> str:
    return name.split(".")[0]


def importtime_report(tree: list[dict], baseline_modules: set[str], top: int = 10) -> dict:
    """What a developer needs to decide what to make lazy, from one handler's import tree."""
    root = tree[-1]
    imports = tree[:-1]
    by_package: dict[str, int] = {}
    for row in imports:
        by_package[top_package(row["name"])] = by_package.get(top_package(row["name"]), 0) + row["self_us"]
    not_in_baseline = [row for row in imports if row["name"] not in baseline_modules]
    ms = lambda us: round(us / 1000, 1)  # noqa: E731
    return {
        "total_ms": ms(root["cum_us"]),
        "module_body_ms": ms(root["self_us"]),
        "modules_imported": len(imports),
        "top_cumulative": [
            {"module": row["name"], "cumulative_ms": ms(row["cum_us"]), "self_ms": ms(row["self_us"])}
            for row in sorted(imports, key=lambda r: r["cum_us"], reverse=True)[:top]
        ],
        "direct_imports": [
            {"module": row["name"], "cumulative_ms": ms(row["cum_us"])}
            for row in sorted((r for r in imports if r["depth"] == 1), key=lambda r: r["cum_us"], reverse=True)[:top]
        ],
        "self_ms_by_package": {
            package: ms(us) for package, us in sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)[:8]
        },
        "beyond_baseline": {
            "modules": len(not_in_baseline),
            "self_ms": ms(sum(row["self_us"] for row in not_in_baseline)),
            "by_package": {
                package: ms(us)
                for package, us in sorted(_sum_by_package(not_in_baseline).items(), key=lambda kv: kv[1], reverse=True)[
                    :8
                ]
            },
        },
    }


def _sum_by_package(rows: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[top_package(row["name"])] = totals.get(top_package(row["name"]), 0) + row["self_us"]
    return totals
