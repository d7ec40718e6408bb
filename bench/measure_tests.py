"""5. Test suite: the whole pytest run's wall time, in a child process."""

from __future__ import annotations

import sys

from benchlib import ROOT, summarize, venv_path_env
from child_runs import log, run_child

TESTS_TARGET_S = 180.0
#: What `make test` runs after `make lint` (the Makefile's test target): two workers, work stealing.
PYTEST_COMMAND = ["-m", "pytest", "-q", "-n", "2", "--dist", "worksteal"]


def bench_tests(runs: int) -> dict:
    entries = []
    for run_number in range(runs):
        wall, completed = run_child([sys.executable, *PYTEST_COMMAND], env=venv_path_env(), cwd=ROOT, timeout=3600)
        lines = [line for line in completed.stdout.splitlines() if line.strip()]
        entries.append({"wall_s": wall, "exit_code": completed.returncode, "summary": lines[-1] if lines else ""})
        log(f"  tests run {run_number + 1}/{runs}: {wall:.1f} s, exit {completed.returncode}: {entries[-1]['summary']}")
    wall = summarize(e["wall_s"] for e in entries)
    return {
        "method": "`python -m pytest -q -n 2 --dist worksteal` (the pytest run of `make test`) from the project root "
        "in a child process, timed by the parent; no warm-up run.",
        "runs": entries,
        "wall_s": wall,
        "all_passed": all(e["exit_code"] == 0 for e in entries),
        "target": f"median wall < {TESTS_TARGET_S:.0f} s",
        "met": wall["median"] < TESTS_TARGET_S,
    }
