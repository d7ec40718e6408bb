"""1. Synth: the whole demo app against a trivial one-topic app, interleaved, each in a fresh interpreter."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Optional

from benchlib import BENCH_DIR, ROOT, parse_marker, summarize, venv_path_env
from child_runs import child_failure, log, run_child

SYNTH_RATIO_TARGET = 2.0


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
