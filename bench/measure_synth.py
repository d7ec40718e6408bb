"""1. Synth: the whole demo app against a trivial one-topic app, interleaved, each in a fresh interpreter."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

from benchlib import BENCH_DIR, ROOT, parse_marker, summarize, venv_path_env
from child_runs import child_failure, log, run_child
from synth_child import REFERENCE_STACKS

SYNTH_RATIO_TARGET = 1.8


def _demo_stack_names() -> list[str]:
    """The names in ``stacks.DEMO_STACKS``, read from the source (this process never imports the CDK)."""
    tree = ast.parse((ROOT / "stacks" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "DEMO_STACKS" for t in targets):
                return [key.value for key in node.value.keys if isinstance(key, ast.Constant)]
    raise RuntimeError("stacks/__init__.py defines no DEMO_STACKS dict")


def bench_synth(repeats: int, scratch: Path) -> tuple[dict, Path | None, Path | None]:
    demo_stacks = _demo_stack_names()
    # With more demo stacks than the target was set on, the reference set is measured too (same rounds).
    separate_reference = sorted(demo_stacks) != sorted(REFERENCE_STACKS)
    kinds = ["whole", "trivial"] + (["reference"] if separate_reference else [])
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    kept: dict[str, Path] = {}
    env = venv_path_env()
    for round_number in range(repeats):
        rotation = round_number % len(kinds)
        order = kinds[rotation:] + kinds[:rotation]
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
            "startup_and_exit_median_s": summarize(
                e["wall_s"] - e["import_s"] - e["build_s"] - e["synth_s"] for e in entries
            )["median"],
            "jsii_round_trips": entries[-1].get("jsii_round_trips"),
            "errors": sorted({e["error"] for e in entries if e["error"]}),
            "runs": entries,
        }

    whole, trivial = describe("whole"), describe("trivial")
    ratio = whole["wall_s"]["median"] / trivial["wall_s"]["median"]
    reference = describe("reference") if separate_reference else whole
    reference_ratio = reference["wall_s"]["median"] / trivial["wall_s"]["median"]
    result = {
        "method": (
            "Each run is a fresh interpreter (bench/synth_child.py): 'whole' = app.build_app(outdir).synth() "
            "with every stack of stacks.DEMO_STACKS; 'trivial' = one stack with one sns.Topic, the same "
            "feature flags and the same cdk-nag packs. Runs are interleaved (order alternates per round); wall "
            "time is measured by the parent around the child process. The target applies to the reference "
            f"app: the demo stacks the target was set on ({', '.join(REFERENCE_STACKS)}); when DEMO_STACKS "
            "holds more, that app is synthesized in the same rounds and the whole app is reported beside it, "
            "with the time each stack adds. jsii_round_trips: requests from Python to jsii's Node process "
            "per phase, counted (not timed) in the last run."
        ),
        "repeats": repeats,
        "demo_stacks": demo_stacks,
        "reference_stacks": list(REFERENCE_STACKS),
        "whole": whole,
        "trivial": trivial,
        "ratio_whole_to_trivial": ratio,
        "seconds_per_demo_stack": (whole["wall_s"]["median"] - trivial["wall_s"]["median"]) / max(1, len(demo_stacks)),
        "reference": reference if separate_reference else "same as whole",
        "ratio_reference_to_trivial": reference_ratio,
        "target": f"reference ratio <= {SYNTH_RATIO_TARGET}",
        "met": reference_ratio <= SYNTH_RATIO_TARGET and not reference["errors"],
    }
    return result, kept.get("whole"), kept.get("trivial")


def synth_once(scratch: Path) -> Path:
    """Synthesize the demo app once, untimed (when the synth section is skipped)."""
    outdir = scratch / "synth" / "whole-untimed"
    _, completed = run_child(
        [sys.executable, str(BENCH_DIR / "synth_child.py"), "whole", str(outdir)],
        env=venv_path_env(),
        cwd=ROOT,
        timeout=900,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"synth of the demo app failed: {child_failure(completed)}")
    return outdir
