#!/usr/bin/env python3
"""Benchmarks of serverless-patterns: synth time, test-suite time, handler cold init, warm latency, asset size.

Run with ``make bench`` (or ``.venv/bin/python bench/run.py --help``). Writes ``bench/results.json``
and prints a table; every measured thing runs in a fresh child process, sections one after another
(never in parallel), so the numbers are comparable between runs on the same machine. This is not a
test: it asserts nothing and is not collected by pytest; each metric records its target and whether
it is met. The printed output is the documentation of how each number is measured.

This file is the command line and the order of the sections; each measure is a module of its own
(``measure_synth``, ``measure_size``, ``measure_cold_init``, ``measure_warm``, ``measure_tests``,
``measure_stream``),
beside the handler staging (``staging``), the machine description (``machine``), the child-process
runner (``child_runs``) and the report (``report``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The project root, for `patterns` (the tests' helpers this benchmark reuses import it).
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from benchlib import BENCH_DIR, TESTS_DIR, load_templates, resource_counts, stack_names_in
from child_runs import log
from machine import machine_info
from measure_cold_init import bench_cold_init
from measure_images import bench_images
from measure_size import bench_size
from measure_stream import bench_stream
from measure_synth import bench_synth, synth_once
from measure_tests import bench_tests
from measure_warm import bench_warm
from report import render, summary_rows
from staging import Handlers
from synth_profile import profile_synth


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--synth-repeats", type=int, default=5, help="interleaved whole/trivial synth rounds (default 5)"
    )
    parser.add_argument(
        "--init-repeats",
        type=int,
        default=11,
        help="interleaved cold-init rounds (default 11; more for a tighter median)",
    )
    parser.add_argument("--invocations", type=int, default=200, help="timed warm invocations per handler (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up invocations (default 20)")
    parser.add_argument("--test-runs", type=int, default=1, help="timed runs of the test suite (default 1)")
    parser.add_argument("--skip-tests", action="store_true", help="skip the test-suite timing (about 1 minute)")
    parser.add_argument(
        "--skip-synth", action="store_true", help="skip synth timing (one untimed synth still feeds sizes)"
    )
    parser.add_argument("--skip-cold-init", action="store_true", help="skip cold-init timing")
    parser.add_argument("--skip-warm", action="store_true", help="skip warm-invocation timing")
    parser.add_argument("--skip-stream", action="store_true", help="skip the stream aggregator's throughput and writes")
    parser.add_argument("--skip-images", action="store_true", help="skip the image processor's measurements")
    parser.add_argument(
        "--output", type=Path, default=BENCH_DIR / "results.json", help="where to write the JSON results"
    )
    args = parser.parse_args(argv)
    for name in ("synth_repeats", "init_repeats", "test_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.invocations < 2 or args.warmup < 1:
        parser.error("--invocations must be at least 2 and --warmup at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    sys.path.insert(0, str(TESTS_DIR))
    from aws_local import FAKE_AWS_ENV

    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="serverless-patterns-bench-"))
    notes: list[str] = []
    results: dict = {
        "schema": 1,
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
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
            log("1b. synth profile")
            kinds = ["whole", "trivial"] + (["reference"] if isinstance(results["synth"]["reference"], dict) else [])
            results["synth"]["profile"] = profile_synth(kinds)
        outdir = whole_outdir or synth_once(scratch)
        stacks = stack_names_in(outdir)
        templates = load_templates(outdir, stacks)
        if not templates:
            notes.append(
                "the demo app synthesized no templates: sizes fall back to lambda_src, environments to the sources"
            )
        if "synth" in results:
            results["synth"]["resource_counts"] = {stack: resource_counts(t) for stack, t in templates.items()}
            if trivial_outdir:
                for stack in stack_names_in(trivial_outdir):
                    results["synth"]["trivial"]["resource_counts"] = resource_counts(
                        load_templates(trivial_outdir, [stack])[stack]
                    )
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
        if not args.skip_stream:
            log("6. stream aggregator")
            results["stream_aggregator"] = bench_stream(FAKE_AWS_ENV)
        if not args.skip_images:
            log("6. image processor")
            results["images"] = bench_images(args.init_repeats, FAKE_AWS_ENV, scratch)
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
