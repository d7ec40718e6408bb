#!/usr/bin/env python3
"""Benchmarks of serverless-patterns: synth time, test-suite time, handler cold init, warm latency, asset size.

Run with ``make bench`` (or ``.venv/bin/python bench/run.py --help``). Writes ``bench/results.json``
and prints a table; every measured thing runs in a fresh child process, sections one after another
(never in parallel), so the numbers are comparable between runs on the same machine. This is not a
test: it asserts nothing and is not collected by pytest; each metric records its target and whether
it is met. The printed output is the documentation of how each number is measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The project root, for `patterns` (the tests' helpers this benchmark reuses import it).
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from benchlib import (  # noqa: E402
    RESULT_MARKER,
    BENCH_DIR,
    LAMBDA_RUNTIME_ENV,
    LAMBDA_SRC,
    ROOT,
    TESTS_DIR,
    asset_excludes,
    clean_aws_env,
    fingerprint,
    function_assets,
    handler_folders,
    importtime_report,
    latency_summary,
    load_templates,
    parse_importtime,
    parse_marker,
    resource_counts,
    source_required_env,
    stack_names_in,
    stage_folder,
    summarize,
    venv_path_env,
    zip_size,
)

SYNTH_RATIO_TARGET = 2.0
TESTS_TARGET_S = 300.0
COLD_INIT_RATIO_TARGET = 1.3
SIZE_TARGET_BYTES = 64 * 1024
BASELINE = "_baseline"
BASELINE_SOURCE = '''"""Cold-init baseline: what any handler pays at least, boto3 and one client."""
import boto3

client = boto3.client("dynamodb")


def handler(event, context):
    return None
'''
COLD_INIT_CODE = """
import sys, time
before = len(sys.modules)
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
import app
elapsed = time.perf_counter() - started
import json
sys.__stdout__.write("BENCH_RESULT " + json.dumps({
    "import_s": elapsed,
    "modules_loaded": len(sys.modules) - before,
    "xray_patched": "aws_xray_sdk.ext.botocore.patch" in sys.modules,
}) + "\\n")
"""
IMPORTTIME_CODE = "import sys; sys.path.insert(0, sys.argv[1]); import app"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_child(command: list[str], *, env: dict, cwd: Path, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - started, completed


def child_failure(completed: subprocess.CompletedProcess) -> str:
    tail = (completed.stderr or completed.stdout or "").strip().splitlines()[-6:]
    return f"exit {completed.returncode}: " + " | ".join(tail)


# --- machine ------------------------------------------------------------------------------------


def machine_info() -> dict:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        node = subprocess.run(["node", "--version"], env=venv_path_env(), capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        node = None
    packages = {}
    for name in ("aws-cdk-lib", "constructs", "cdk-nag", "jsii", "boto3", "botocore", "aws-lambda-powertools", "aws-xray-sdk", "moto", "pytest"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "node_version": node,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "packages": packages,
    }


# --- 1. synth -----------------------------------------------------------------------------------


def bench_synth(repeats: int, scratch: Path) -> tuple[dict, Optional[Path], Optional[Path]]:
    runs: dict[str, list[dict]] = {"whole": [], "trivial": []}
    kept: dict[str, Path] = {}
    env = venv_path_env()
    for round_number in range(repeats):
        order = ("whole", "trivial") if round_number % 2 == 0 else ("trivial", "whole")
        for kind in order:
            outdir = scratch / "synth" / f"{kind}-{round_number}"
            wall, completed = run_child(
                [sys.executable, str(BENCH_DIR / "synth_child.py"), kind, str(outdir)], env=env, cwd=ROOT, timeout=900
            )
            if completed.returncode != 0:
                raise RuntimeError(f"synth of the {kind} app failed: {child_failure(completed)}")
            phases = parse_marker(completed.stdout)
            runs[kind].append({"wall_s": wall, **phases})
            log(f"  synth round {round_number + 1}/{repeats}: {kind:<7} {wall:6.2f} s")
            if kind in kept and kept[kind] != outdir:
                shutil.rmtree(kept[kind], ignore_errors=True)
            kept[kind] = outdir

    def describe(kind: str) -> dict:
        entries = runs[kind]
        stacks = sorted({name for e in entries for name in e.get("stack_build_s", {})})
        return {
            "wall_s": summarize(e["wall_s"] for e in entries),
            "stack_build_median_s": {
                name: summarize(e["stack_build_s"][name] for e in entries if name in e["stack_build_s"])["median"]
                for name in stacks
            },
            "phases_median_s": {
                phase: summarize(e[phase] for e in entries)["median"] for phase in ("import_s", "build_s", "synth_s")
            },
            "startup_and_exit_median_s": summarize(e["wall_s"] - e["import_s"] - e["build_s"] - e["synth_s"] for e in entries)["median"],
            "errors": sorted({e["error"] for e in entries if e["error"]}),
            "runs": entries,
        }

    whole, trivial = describe("whole"), describe("trivial")
    ratio = whole["wall_s"]["median"] / trivial["wall_s"]["median"]
    result = {
        "method": (
            "Each run is a fresh interpreter (bench/synth_child.py): 'whole' = app.build_app(outdir).synth() "
            "with every stack of stacks.DEMO_STACKS; 'trivial' = one stack with one sns.Topic, the same "
            "feature flags and the same cdk-nag packs. Runs are interleaved (order alternates per round); wall "
            "time is measured by the parent around the child process."
        ),
        "repeats": repeats,
        "whole": whole,
        "trivial": trivial,
        "ratio_whole_to_trivial": ratio,
        "target": f"ratio <= {SYNTH_RATIO_TARGET}",
        "met": ratio <= SYNTH_RATIO_TARGET and not whole["errors"],
    }
    return result, kept.get("whole"), kept.get("trivial")


def synth_once(scratch: Path) -> Path:
    """Synthesize the demo app once, untimed (when the synth section is skipped)."""
    outdir = scratch / "synth" / "whole-untimed"
    _, completed = run_child(
        [sys.executable, str(BENCH_DIR / "synth_child.py"), "whole", str(outdir)], env=venv_path_env(), cwd=ROOT, timeout=900
    )
    if completed.returncode != 0:
        raise RuntimeError(f"synth of the demo app failed: {child_failure(completed)}")
    return outdir


# --- handler staging and environments ---------------------------------------------------------------


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
                self.env_source[name] = f"{function['stack']}/{function['logical_id']} (synthesized template; tokens as dummies)"
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


# --- 2. size ------------------------------------------------------------------------------------


def bench_size(handlers: Handlers, scratch: Path) -> dict:
    entries, seen_assets = [], set()
    for function in handlers.functions:
        asset = function["asset_dir"]
        if asset is None or asset in seen_assets:
            continue
        seen_assets.add(asset)
        used_by = [f"{f['stack']}/{f['logical_id']}" for f in handlers.functions if f["asset_dir"] == asset]
        entries.append(
            {
                "function": function["handler"] or f"(not in lambda_src) {asset.name[:18]}",
                "source": f"cdk.out/{asset.name}",
                "used_by": used_by,
                **zip_size(asset, scratch / "zips" / "cdk"),
            }
        )
    staged_names = {e["function"] for e in entries}
    for name in handlers.names:
        if name not in staged_names:
            entries.append(
                {
                    "function": name,
                    "source": f"lambda_src/{name} with ASSET_EXCLUDES (no demo stack stages it)",
                    "used_by": [],
                    **zip_size(handlers.folders[name], scratch / "zips" / "staged"),
                }
            )
    for entry in entries:
        entry["target"] = f"<= {SIZE_TARGET_BYTES} bytes zipped"
        entry["met"] = entry["zipped_bytes"] <= SIZE_TARGET_BYTES
    entries.sort(key=lambda e: e["function"])
    return {
        "method": "Each Lambda function's asset folder in cdk.out (the bundled handlers are plain folders), zipped with deflate level 9.",
        "excludes": handlers.excludes,
        "functions": entries,
        "met": all(e["met"] for e in entries),
    }


# --- 3. cold init ---------------------------------------------------------------------------------


def bench_cold_init(handlers: Handlers, repeats: int, scratch: Path, fake_aws_env: dict) -> dict:
    base = clean_aws_env(fake_aws_env, scratch)
    modules = [BASELINE] + handlers.names
    envs = {name: handlers.lambda_env(name, base) for name in modules}

    def import_once(name: str) -> subprocess.CompletedProcess:
        return run_child(
            [sys.executable, "-c", COLD_INIT_CODE, str(handlers.folders[name])],
            env=envs[name], cwd=handlers.folders[name], timeout=120,
        )[1]

    # One untimed round first, so no module pays for a cold page cache in the timed rounds.
    for name in modules:
        import_once(name)

    samples: dict[str, list[float]] = {name: [] for name in modules}
    per_round: list[dict[str, float]] = []
    facts: dict[str, dict] = {}
    errors: dict[str, str] = {}
    for round_number in range(repeats):
        rotation = round_number % len(modules)
        per_round.append({})
        for name in modules[rotation:] + modules[:rotation]:
            if name in errors:
                continue
            completed = import_once(name)
            if completed.returncode != 0:
                errors[name] = child_failure(completed)
                log(f"  cold init {name}: failed ({errors[name]})")
                continue
            result = parse_marker(completed.stdout)
            samples[name].append(result["import_s"])
            per_round[-1][name] = result["import_s"]
            facts[name] = {"modules_loaded": result["modules_loaded"], "xray_patched": result["xray_patched"]}
        log(f"  cold init round {round_number + 1}/{repeats} done")

    # -X importtime once per module, after the timed rounds (it slows imports down).
    trees = {}
    for name in modules:
        _, completed = run_child(
            [sys.executable, "-X", "importtime", "-c", IMPORTTIME_CODE, str(handlers.folders[name])],
            env=envs[name], cwd=handlers.folders[name], timeout=120,
        )
        trees[name] = parse_importtime(completed.stderr) if completed.returncode == 0 else None
    baseline_modules = {row["name"] for row in trees[BASELINE] or []}

    if BASELINE in errors:
        raise RuntimeError(f"the cold-init baseline (boto3 + one client) failed: {errors[BASELINE]}")
    baseline = summarize(samples[BASELINE])
    entries = {}
    for name in modules:
        if name in errors:
            entries[name] = {"error": errors[name], "met": False}
            continue
        summary = summarize(samples[name])
        entry = {
            "import_s": summary,
            "samples_s": samples[name],
            **facts.get(name, {}),
            "env_source": handlers.env_source.get(name, "boto3 only"),
            "env_names": sorted(envs[name].keys() - set(base) - set(LAMBDA_RUNTIME_ENV)),
            "importtime": importtime_report(trees[name], baseline_modules) if trees.get(name) else None,
        }
        if name != BASELINE:
            entry["ratio_to_baseline"] = summary["median"] / baseline["median"]
            paired = [r[name] / r[BASELINE] for r in per_round if name in r and BASELINE in r]
            entry["paired_ratio_median"] = summarize(paired)["median"] if paired else None
            entry["target"] = f"ratio <= {COLD_INIT_RATIO_TARGET}"
            entry["met"] = entry["ratio_to_baseline"] <= COLD_INIT_RATIO_TARGET
        entries[name] = entry
    return {
        "method": (
            "Fresh interpreter per sample; time.perf_counter() around `import app` inside the child (interpreter "
            "start-up excluded), app imported from the handler folder staged as CDK stages it (ASSET_EXCLUDES), "
            "bytecode of the handler not cached (as on Lambda). Environment as deployed: the function's variables "
            "from the synthesized template (references as dummy values), fake credentials and region, Lambda's "
            "runtime variables including LAMBDA_TASK_ROOT, POWERTOOLS_TRACE_DISABLED unset - so a Tracer is enabled "
            "and patches botocore/requests/sqlite3... as on Lambda. aws_xray_sdk and Powertools come from the venv "
            "(on Lambda: from the Powertools layer). Baseline: a module that imports boto3 and creates one "
            "DynamoDB client. After one untimed round, rounds interleave all modules (rotating order); ratios are of medians. "
            "-X importtime: one separate run per module."
        ),
        "repeats": repeats,
        "baseline": entries.pop(BASELINE),
        "handlers": entries,
        "met": all(e.get("met") for e in entries.values()),
    }


# --- 4. warm invocation ---------------------------------------------------------------------------


class LockstepChild:
    """A warm_child.py process that times one invocation each time it is told ``run``."""

    def __init__(self, command: list[str], *, env: dict, cwd: Path, stderr_path: Path):
        self._stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.process = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._buffer = b""

    def result(self, timeout: float) -> dict:
        """The next result line (other output, e.g. the handler's logs, is skipped)."""
        marker = RESULT_MARKER.encode()
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while time.monotonic() < deadline:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                if line.startswith(marker):
                    return json.loads(line[len(marker):])
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise RuntimeError(self.failure())
                self._buffer += chunk
        raise RuntimeError(f"no answer within {timeout:.0f} s")

    def run_one(self, timeout: float = 60.0) -> float:
        self.process.stdin.write(b"run\n")
        self.process.stdin.flush()
        return self.result(timeout)["t"]

    def failure(self) -> str:
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._stderr.flush()
        tail = self._stderr_path.read_text(errors="replace").strip().splitlines()[-6:]
        return f"exit {self.process.returncode}: " + " | ".join(tail)

    def close(self) -> None:
        try:
            self.process.stdin.write(b"exit\n")
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self._stderr.close()


def bench_warm(handlers: Handlers, invocations: int, warmup: int, scratch: Path, fake_aws_env: dict) -> dict:
    sys.path.insert(0, str(TESTS_DIR))
    from aws_local import moto_server  # the same local AWS the handler tests use
    from warm_drivers import DRIVERS

    entries, skipped = {}, {}
    base = clean_aws_env(fake_aws_env, scratch)
    log("  starting moto server on 127.0.0.1")
    with moto_server() as endpoint:
        for name in handlers.names:
            driver = DRIVERS.get(name)
            if driver is None:
                skipped[name] = "no driver in bench/warm_drivers.py knows this handler's event and raw call"
                continue
            env = handlers.lambda_env(name, base)
            env["AWS_ENDPOINT_URL"] = endpoint

            def start(label: str, mode: str, extra_env: Optional[dict] = None) -> LockstepChild:
                return LockstepChild(
                    [sys.executable, str(BENCH_DIR / "warm_child.py"), name, mode, str(handlers.folders[name]), str(warmup)],
                    env={**env, **(extra_env or {})}, cwd=BENCH_DIR, stderr_path=scratch / f"warm-{name}-{label}.stderr",
                )

            children: dict[str, LockstepChild] = {}
            try:
                children["raw_call"] = start("raw", "raw")
                children["handler"] = start("handler", "handler")
                ready = {label: child.result(timeout=180) for label, child in children.items()}
                if ready["handler"]["tracing_active"]:
                    children["handler_tracing_disabled"] = start("untraced", "handler", {"POWERTOOLS_TRACE_DISABLED": "true"})
                    ready["handler_tracing_disabled"] = children["handler_tracing_disabled"].result(timeout=180)
                labels = list(children)
                samples: dict[str, list[float]] = {label: [] for label in labels}
                for i in range(invocations):  # lockstep, rotating which one goes first
                    for label in labels[i % len(labels):] + labels[: i % len(labels)]:
                        samples[label].append(children[label].run_one())
            except (RuntimeError, ValueError, OSError) as failure:
                skipped[name] = f"could not drive it: {failure}"
                log(f"  warm {name}: skipped ({skipped[name]})")
                continue
            finally:
                for child in children.values():
                    child.close()
            measured = {
                label: {
                    "latency": latency_summary(samples[label]),
                    "aws_calls_per_invocation": ready[label]["aws_calls_per_invocation"],
                    "tracing_active": ready[label]["tracing_active"],
                }
                for label in labels
            }
            handler, raw = measured["handler"], measured["raw_call"]
            entry = {
                "request": driver.request,
                "raw": driver.raw,
                "stubbed_with_botocore_stubber": list(driver.stubbed),
                **measured,
                "overhead_p50_ms": handler["latency"]["p50_ms"] - raw["latency"]["p50_ms"],
                "overhead_p50_ms_per_call_adjusted": _call_adjusted_overhead(handler, raw),
                "target": "informational (no target)",
                "met": None,
            }
            entries[name] = entry
            log(f"  warm {name}: handler p50 {handler['latency']['p50_ms']:.2f} ms, raw p50 {raw['latency']['p50_ms']:.2f} ms")
    return {
        "method": (
            f"{warmup} untimed warm-up invocations, then {invocations} timed ones. The handler and the raw call run in "
            "two fresh processes side by side, in lockstep (one timed call at a time, alternating which goes first), so "
            "both see the same machine load: the handler imported from its staged folder with the deployed environment "
            "(Tracer enabled, a new sampled _X_AMZN_TRACE_ID per invocation, segments sent by UDP to an unread socket on "
            "127.0.0.1; a third process with POWERTOOLS_TRACE_DISABLED=true when the handler traces), the raw boto3 call "
            "in a process that never imports Powertools. AWS calls go over HTTP to moto's server on 127.0.0.1 "
            "(tests/aws_local.py), except those a driver lists as stubbed (botocore Stubber, in-process). Handlers log "
            "to a pipe. Informational: no target."
        ),
        "invocations": invocations,
        "warmup": warmup,
        "handlers": entries,
        "skipped": skipped,
    }


def _call_adjusted_overhead(handler: dict, raw: dict) -> Optional[float]:
    """Handler p50 minus the raw p50 scaled to the handler's number of AWS calls (when both make calls)."""
    handler_calls = sum(handler["aws_calls_per_invocation"].values())
    raw_calls = sum(raw["aws_calls_per_invocation"].values())
    if not raw_calls:
        return None
    return handler["latency"]["p50_ms"] - raw["latency"]["p50_ms"] * handler_calls / raw_calls


# --- 5. tests -----------------------------------------------------------------------------------


def bench_tests(runs: int) -> dict:
    entries = []
    for run_number in range(runs):
        wall, completed = run_child([sys.executable, "-m", "pytest", "-q"], env=venv_path_env(), cwd=ROOT, timeout=3600)
        lines = [line for line in completed.stdout.splitlines() if line.strip()]
        entries.append({"wall_s": wall, "exit_code": completed.returncode, "summary": lines[-1] if lines else ""})
        log(f"  tests run {run_number + 1}/{runs}: {wall:.1f} s, exit {completed.returncode}: {entries[-1]['summary']}")
    wall = summarize(e["wall_s"] for e in entries)
    return {
        "method": "`python -m pytest -q` from the project root in a child process, timed by the parent; no warm-up run.",
        "runs": entries,
        "wall_s": wall,
        "all_passed": all(e["exit_code"] == 0 for e in entries),
        "target": f"median wall < {TESTS_TARGET_S:.0f} s",
        "met": wall["median"] < TESTS_TARGET_S,
    }


# --- report ---------------------------------------------------------------------------------------


def summary_rows(results: dict) -> list[dict]:
    rows = []
    synth = results.get("synth")
    if synth:
        rows.append({"metric": "synth whole/trivial", "value": f"{synth['ratio_whole_to_trivial']:.3f}x", "target": f"<= {SYNTH_RATIO_TARGET}x", "met": synth["met"]})
    tests = results.get("tests")
    if tests and not tests.get("skipped"):
        passed = "" if tests["all_passed"] else " (FAILURES)"
        rows.append({"metric": "test suite wall", "value": f"{tests['wall_s']['median']:.1f} s{passed}", "target": f"< {TESTS_TARGET_S:.0f} s", "met": tests["met"]})
    cold = results.get("cold_init")
    if cold:
        for name, entry in cold["handlers"].items():
            value = f"{entry['ratio_to_baseline']:.3f}x" if "ratio_to_baseline" in entry else "error"
            rows.append({"metric": f"cold init {name}", "value": value, "target": f"<= {COLD_INIT_RATIO_TARGET}x baseline", "met": entry["met"]})
    size = results.get("size")
    if size:
        for entry in size["functions"]:
            rows.append({"metric": f"asset size {entry['function']}", "value": f"{entry['zipped_bytes'] / 1024:.1f} KiB", "target": "<= 64 KiB", "met": entry["met"]})
    return rows


def fmt_spread(summary: dict, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
    def f(v):
        return f"{v * scale:.{digits}f}"

    text = f"{f(summary['median'])} {unit} [{f(summary['min'])}-{f(summary['max'])}]"
    if "iqr" in summary:
        text += f" IQR {f(summary['iqr'])}"
    return text


def render(results: dict) -> str:
    out: list[str] = []
    m = results["machine"]
    p = m["packages"]
    out.append("=" * 100)
    out.append(f"serverless-patterns benchmark  {results['generated_at']}  (total {results['duration_s']:.0f} s)")
    out.append(
        f"machine: {m['platform']} | {m['cpu_model'] or m['machine']} | {m['cpu_count']} CPUs ({m['cpus_usable']} usable) | "
        f"{m['python_implementation']} {m['python_version']} | node {m['node_version']}"
    )
    out.append(f"load average (1/5/15 min): at start {m.get('load_average_at_start')}, at end {m.get('load_average_at_end')}")
    out.append(
        "packages: " + ", ".join(f"{k} {v}" for k, v in p.items() if v)
    )
    out.append("spread notation: median [min-max] IQR (interquartile range)")

    synth = results.get("synth")
    out.append("")
    out.append("1. SYNTH")
    if synth:
        out.append("   " + synth["method"])
        out.append(f"   {'app':<9}{'wall: median [min-max] IQR':<36}{'import':>8}{'build':>8}{'synth':>8}{'start+exit':>12}   (phase medians, s)")
        for kind in ("whole", "trivial"):
            e = synth[kind]
            ph = e["phases_median_s"]
            out.append(
                f"   {kind:<9}{fmt_spread(e['wall_s']):<36}{ph['import_s']:>8.2f}{ph['build_s']:>8.2f}{ph['synth_s']:>8.2f}{e['startup_and_exit_median_s']:>12.2f}"
            )
            if e["errors"]:
                out.append(f"     synth errors: {e['errors']}")
        out.append(
            f"   ratio whole/trivial (medians): {synth['ratio_whole_to_trivial']:.3f}x   target {synth['target']}   "
            f"{'MET' if synth['met'] else 'MISSED'}   ({synth['repeats']} interleaved rounds)"
        )
        out.append("   resources per stack (synthesized templates):")
        counts_by_stack = dict(synth["resource_counts"])
        if "resource_counts" in synth["trivial"]:
            counts_by_stack["(trivial app)"] = synth["trivial"]["resource_counts"]
        for stack, counts in counts_by_stack.items():
            top = ", ".join(f"{t.split('::', 1)[1]} {n}" for t, n in list(counts["by_type"].items())[:4])
            built = synth["whole"]["stack_build_median_s"].get(stack)
            build = f"built in {built:.2f} s" if built is not None else ""
            out.append(f"     {stack:<22}{counts['resources']:>4} resources, {counts['functions']} functions  {build:<16}({top}, ...)")
    else:
        out.append("   skipped (--skip-synth)")

    cold = results.get("cold_init")
    out.append("")
    out.append("2. COLD INIT (handler module import)")
    if cold:
        out.append("   " + cold["method"])
        out.append(f"   {'module':<20}{'import: median [min-max] IQR (ms)':<40}{'ratio':>7}{'paired':>8}{'target':>9}{'met':>6}{'modules':>9}{'xray':>6}")
        b = cold["baseline"]
        out.append(f"   {'baseline':<20}{fmt_spread(b['import_s'], 'ms', 1000, 0):<40}{'1.000':>7}{'1.000':>8}{'':>9}{'':>6}{b['modules_loaded']:>9}{'no':>6}")
        for name, e in cold["handlers"].items():
            if "error" in e:
                out.append(f"   {name:<20}ERROR {e['error']}")
                continue
            out.append(
                f"   {name:<20}{fmt_spread(e['import_s'], 'ms', 1000, 0):<40}{e['ratio_to_baseline']:>7.3f}{e['paired_ratio_median'] or 0:>8.3f}{'<=' + str(COLD_INIT_RATIO_TARGET):>9}"
                f"{'yes' if e['met'] else 'NO':>6}{e['modules_loaded']:>9}{'yes' if e['xray_patched'] else 'no':>6}"
            )
        out.append(
            f"   ({cold['repeats']} interleaved rounds; 'ratio' = median / baseline median (the target's measure); 'paired' = "
            "median of per-round ratios; 'modules' = modules the import added; 'xray' = botocore patched by X-Ray)"
        )
        out.append("   -X importtime, one run each: 10 slowest cumulative imports (ms), the module's direct imports (cumulative ms),")
        out.append("   and the self time (ms) of modules the baseline does not import, by package")
        for name, e in [("baseline", cold["baseline"])] + list(cold["handlers"].items()):
            report = e.get("importtime")
            if not report:
                continue
            out.append(
                f"   {name}: import {report['total_ms']:.0f} ms under -X importtime, module body {report['module_body_ms']:.0f} ms "
                f"(its own top-level code: clients, Tracer patching, ...), {report['modules_imported']} modules"
            )
            tops = [f"{t['module']} {t['cumulative_ms']:.0f}" for t in report["top_cumulative"]]
            out.append("       top: " + ", ".join(tops[:5]))
            out.append("            " + ", ".join(tops[5:]))
            out.append("       direct imports of the module: " + ", ".join(f"{t['module']} {t['cumulative_ms']:.0f}" for t in report["direct_imports"][:6]))
            beyond = report["beyond_baseline"]
            if name != "baseline":
                out.append(
                    f"       beyond baseline: {beyond['modules']} modules, {beyond['self_ms']:.0f} ms self: "
                    + ", ".join(f"{k} {v:.0f}" for k, v in beyond["by_package"].items())
                )
    else:
        out.append("   skipped (--skip-cold-init)")

    warm = results.get("warm_invocation")
    out.append("")
    out.append("3. WARM INVOCATION")
    if warm:
        out.append("   " + warm["method"])
        out.append(f"   {'handler':<28}{'p50':>8}{'p99':>8}  | {'raw call':<42}{'p50':>8}{'p99':>8}  | {'+p50':>7}{'calls/inv':>10}{'+p50 adj':>10}")
        for name, e in warm["handlers"].items():
            h, r = e["handler"]["latency"], e["raw_call"]["latency"]
            calls = sum(e["handler"]["aws_calls_per_invocation"].values())
            raw_calls = sum(e["raw_call"]["aws_calls_per_invocation"].values())
            label = name + (" (tracing on)" if e["handler"]["tracing_active"] else "")
            adjusted = e["overhead_p50_ms_per_call_adjusted"]
            out.append(
                f"   {label:<28}{h['p50_ms']:>8.3f}{h['p99_ms']:>8.3f}  | {e['raw'][:42]:<42}{r['p50_ms']:>8.3f}{r['p99_ms']:>8.3f}  | "
                f"{e['overhead_p50_ms']:>7.3f}{calls:>6.0f} vs {raw_calls:.0f}{'' if adjusted is None else f'{adjusted:>10.3f}'}"
            )
            if "handler_tracing_disabled" in e:
                u = e["handler_tracing_disabled"]["latency"]
                out.append(f"   {name + ' (tracing off)':<28}{u['p50_ms']:>8.3f}{u['p99_ms']:>8.3f}  | {'(same raw call)':<42}{'':>8}{'':>8}  | {u['p50_ms'] - r['p50_ms']:>7.3f}")
            out.append(f"     {e['request']}; AWS calls/invocation: {e['handler']['aws_calls_per_invocation'] or 'none'}")
            if e["stubbed_with_botocore_stubber"]:
                out.append(f"     STUBBED with botocore Stubber (moto cannot serve them): {', '.join(e['stubbed_with_botocore_stubber'])}")
        for name, reason in warm["skipped"].items():
            out.append(f"   {name}: SKIPPED - {reason}")
        out.append(
            f"   (ms; {warm['invocations']} invocations after {warm['warmup']} warm-up; '+p50' = handler p50 - raw p50; "
            "'+p50 adj' = handler p50 - raw p50 x (handler calls / raw calls), the cost beyond its AWS round trips)"
        )
    else:
        out.append("   skipped (--skip-warm)")

    size = results.get("size")
    out.append("")
    out.append("4. ASSET SIZE")
    if size:
        out.append("   " + size["method"])
        out.append(f"   {'function':<22}{'zipped':>12}{'unzipped':>12}{'files':>7}{'met':>6}   source / used by")
        for e in size["functions"]:
            used = ", ".join(e["used_by"][:3]) + (" ..." if len(e["used_by"]) > 3 else "")
            out.append(
                f"   {e['function']:<22}{e['zipped_bytes']:>10} B{e['unzipped_bytes']:>10} B{e['files']:>7}{'yes' if e['met'] else 'NO':>6}   {e['source']}"
                + (f" <- {used}" if used else "")
            )
        out.append(f"   (target each <= {SIZE_TARGET_BYTES} bytes zipped; excludes {size['excludes']})")

    tests = results.get("tests")
    out.append("")
    out.append("5. TEST SUITE")
    if tests and not tests.get("skipped"):
        out.append("   " + tests["method"])
        for i, e in enumerate(tests["runs"], 1):
            out.append(f"   run {i}: {e['wall_s']:.1f} s, exit {e['exit_code']}: {e['summary']}")
        out.append(
            f"   median {tests['wall_s']['median']:.1f} s over {len(tests['runs'])} run(s)   target {tests['target']}   "
            f"{'MET' if tests['met'] else 'MISSED'}{'' if tests['all_passed'] else '   (the suite did not pass)'}"
        )
    else:
        out.append("   skipped (--skip-tests)")

    out.append("")
    out.append("SUMMARY")
    for row in results["summary"]:
        met = "-" if row["met"] is None else "MET" if row["met"] else "MISSED"
        out.append(f"   {row['metric']:<34}{row['value']:>16}   target {row['target']:<20}{met}")
    for note in results["notes"]:
        out.append(f"   note: {note}")
    out.append(f"results written to {results['output']}")
    out.append("=" * 100)
    return "\n".join(out)


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-repeats", type=int, default=3, help="interleaved whole/trivial synth rounds (default 3)")
    parser.add_argument("--init-repeats", type=int, default=11, help="interleaved cold-init rounds (default 11; more for a tighter median)")
    parser.add_argument("--invocations", type=int, default=200, help="timed warm invocations per handler (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up invocations (default 20)")
    parser.add_argument("--test-runs", type=int, default=1, help="timed runs of the test suite (default 1)")
    parser.add_argument("--skip-tests", action="store_true", help="skip the test-suite timing (about 1 minute)")
    parser.add_argument("--skip-synth", action="store_true", help="skip synth timing (one untimed synth still feeds sizes)")
    parser.add_argument("--skip-cold-init", action="store_true", help="skip cold-init timing")
    parser.add_argument("--skip-warm", action="store_true", help="skip warm-invocation timing")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.json", help="where to write the JSON results")
    args = parser.parse_args(argv)
    for name in ("synth_repeats", "init_repeats", "test_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.invocations < 2 or args.warmup < 1:
        parser.error("--invocations must be at least 2 and --warmup at least 1")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    sys.path.insert(0, str(TESTS_DIR))
    from aws_local import FAKE_AWS_ENV

    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="serverless-patterns-bench-"))
    notes: list[str] = []
    results: dict = {
        "schema": 1,
        "generated_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "machine": machine_info(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    try:
        handlers = Handlers(scratch)
        for folder in handlers.skipped_folders:
            notes.append(f"lambda_src/{folder} has no app.py: not benchmarked")
        log(f"handlers: {', '.join(handlers.names)}")

        whole_outdir = trivial_outdir = None
        if not args.skip_synth:
            log("1. synth")
            results["synth"], whole_outdir, trivial_outdir = bench_synth(args.synth_repeats, scratch)
        outdir = whole_outdir or synth_once(scratch)
        stacks = stack_names_in(outdir)
        templates = load_templates(outdir, stacks)
        if not templates:
            notes.append("the demo app synthesized no templates: sizes fall back to lambda_src, environments to the sources")
        if "synth" in results:
            results["synth"]["resource_counts"] = {stack: resource_counts(t) for stack, t in templates.items()}
            if trivial_outdir:
                for stack in stack_names_in(trivial_outdir):
                    results["synth"]["trivial"]["resource_counts"] = resource_counts(load_templates(trivial_outdir, [stack])[stack])
        handlers.attach_synth(outdir, templates)

        log("4. size")
        results["size"] = bench_size(handlers, scratch)
        if not args.skip_cold_init:
            log("2. cold init")
            results["cold_init"] = bench_cold_init(handlers, args.init_repeats, scratch, FAKE_AWS_ENV)
        if not args.skip_warm:
            log("3. warm invocation")
            results["warm_invocation"] = bench_warm(handlers, args.invocations, args.warmup, scratch, FAKE_AWS_ENV)
            for name, reason in results["warm_invocation"]["skipped"].items():
                notes.append(f"warm invocation of {name} skipped: {reason}")
        if args.skip_tests:
            results["tests"] = {"skipped": True}
        else:
            log("5. tests")
            results["tests"] = bench_tests(args.test_runs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    notes.append(
        f"handlers run here on CPython {platform.python_version()} with the venv's packages; Lambda runs them on Python 3.14 "
        "with boto3 from the runtime and Powertools/aws_xray_sdk from the layer. X-Ray's patch_all also patches what is "
        "importable (here: requests, sqlite3, httplib), which the Lambda runtime may not have."
    )
    load = results["machine"].get("load_average_at_start")
    if load and load[0] > 0.5 * (os.cpu_count() or 1):
        notes.append(
            f"the machine was busy (1-min load {load[0]} on {os.cpu_count()} CPUs at start): timings are noisy; "
            "ratios near a target can flip between runs - rerun on an idle machine or with more repeats"
        )
    unmatched = [f"{f['stack']}/{f['logical_id']}" for f in handlers.functions if f["asset_dir"] and not f["handler"]]
    if unmatched:
        notes.append(
            "function assets matching no lambda_src folder (changed since staging, or not a bundled handler): "
            + ", ".join(unmatched)
        )
    results["duration_s"] = time.perf_counter() - started
    if hasattr(os, "getloadavg"):
        results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["summary"] = summary_rows(results)
    results["all_met"] = all(row["met"] for row in results["summary"] if row["met"] is not None)
    results["notes"] = notes
    results["output"] = str(args.output)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
