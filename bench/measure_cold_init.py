"""2. Cold init: each handler module's import in a fresh interpreter, against a boto3-only baseline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchlib import (
    LAMBDA_RUNTIME_ENV,
    clean_aws_env,
    importtime_report,
    parse_importtime,
    parse_marker,
    summarize,
)
from child_runs import child_failure, log, run_child
from staging import BASELINE, BOTOCORE_BASELINE, Handlers

COLD_INIT_RATIO_TARGET = 1.1

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


def bench_cold_init(handlers: Handlers, repeats: int, scratch: Path, fake_aws_env: dict) -> dict:
    base = clean_aws_env(fake_aws_env, scratch)
    modules = [BASELINE, BOTOCORE_BASELINE, *handlers.names]
    envs = {name: handlers.lambda_env(name, base) for name in modules}

    def import_once(name: str) -> subprocess.CompletedProcess:
        return run_child(
            [sys.executable, "-c", COLD_INIT_CODE, str(handlers.folders[name])],
            env=envs[name],
            cwd=handlers.folders[name],
            timeout=120,
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
            env=envs[name],
            cwd=handlers.folders[name],
            timeout=120,
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
        if name not in (BASELINE, BOTOCORE_BASELINE):
            if BOTOCORE_BASELINE not in errors:
                entry["ratio_to_botocore_baseline"] = (
                    summary["median"] / summarize(samples[BOTOCORE_BASELINE])["median"]
                )
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
            "DynamoDB client (the target's reference). Informational second baseline: the same client made with "
            "botocore alone, as the bundled handlers make theirs (ratio_to_botocore_baseline). After one untimed round, rounds interleave all modules (rotating order); ratios are of medians. "
            "-X importtime: one separate run per module."
        ),
        "repeats": repeats,
        "baseline": entries.pop(BASELINE),
        "baseline_botocore": entries.pop(BOTOCORE_BASELINE),
        "handlers": entries,
        "met": all(e.get("met") for e in entries.values()),
    }
