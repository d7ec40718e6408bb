"""Where synth time goes: one extra, untimed synth of each app under Node's CPU profiler.

The jsii kernel runs the CDK in a Node process; ``--cpu-prof`` samples it for the child's whole
life. Each sample goes to one part of the work (``_PARTS``), so the parts add
up to the Node process's time. Time the kernel spends blocked on reading Python's next request
is Python's own (imports, our construct code, the Aspect visits); the child also times the alarm
routing Aspect's visits on the Python side. Profiling slows everything a little: read the shares,
not the seconds, and use the timed rounds for the ratio.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from pathlib import Path

from benchlib import BENCH_DIR, ROOT, parse_marker, venv_path_env
from child_runs import child_failure, run_child

#: (part, test on a frame's function name and script URL), most specific first: a sample goes to the first
#: part any frame of its call stack matches (so a module loaded for the validation counts as validation).
_PARTS: tuple[tuple[str, object], ...] = (
    ("CloudFormation validation: engine start", lambda name, url: name == "_singletonInstance"),
    ("CloudFormation validation: templates", lambda name, url: "cloudformation-validate-plugin" in url),
    ("cdk-nag packs", lambda name, url: "cdk-nag" in url),
    ("Aspects (their visits in Python included)", lambda name, url: name == "invokeAspectsV2"),
    ("other validation (annotations, report)", lambda name, url: name == "validateTemplates"),
    ("templates, assets and files", lambda name, url: name == "synthesize"),
    ("loading CDK modules", lambda name, url: name == "wrapModuleLoad"),
    ("constructing (jsii create)", lambda name, url: name == "_Kernel_create"),
    ("calls from Python (jsii invoke, get, set)", lambda name, url: name.startswith("_Kernel_")),
    ("garbage collection", lambda name, url: name == "(garbage collector)"),
    ("waiting for Python (imports, construct code)", lambda name, url: name == "read" and not url),
)
_OTHER = "other (kernel, start-up)"


def categorize(profile: dict) -> dict[str, float]:
    """Milliseconds of a ``.cpuprofile`` per part of the work (see ``_PARTS``), largest first."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", ())}
    self_us: collections.Counter[int] = collections.Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=False):
        self_us[sample] += delta
    rank_of: dict[int, int] = {}

    def rank(node_id: int) -> int:
        """The index in _PARTS of the first part matching a frame of this node's stack (len(_PARTS): none)."""
        chain = []
        current: int | None = node_id
        while current is not None and current not in rank_of:
            chain.append(current)
            current = parent.get(current)
        best = rank_of[current] if current is not None else len(_PARTS)
        for each in reversed(chain):  # from the outermost frame not yet ranked inwards
            frame = nodes[each]["callFrame"]
            own = next(
                (i for i, (_, test) in enumerate(_PARTS) if test(frame["functionName"], frame["url"])),  # type: ignore[operator]
                len(_PARTS),
            )
            best = min(best, own)
            rank_of[each] = best
        return best

    totals: collections.Counter[str] = collections.Counter()
    for node_id, micros in self_us.items():
        index = rank(node_id)
        totals[_PARTS[index][0] if index < len(_PARTS) else _OTHER] += micros
    return {label: round(micros / 1000, 1) for label, micros in totals.most_common()}


def profile_synth(kinds: list[str]) -> dict:
    """One profiled synth per app kind: Node CPU per part, and the Python time of the alarm routing visits."""
    result: dict = {
        "method": __doc__.strip().replace("\n", " ") if __doc__ else "",
    }
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"synth-profile-{kind}-") as scratch:
            profiles = Path(scratch) / "cpu"
            env = {**venv_path_env(), "NODE_OPTIONS": f"--cpu-prof --cpu-prof-dir={profiles}", "BENCH_PROFILE": "1"}
            wall, completed = run_child(
                [sys.executable, str(BENCH_DIR / "synth_child.py"), kind, str(Path(scratch) / "out")],
                env=env,
                cwd=ROOT,
                timeout=900,
            )
            if completed.returncode != 0:
                result[kind] = {"error": child_failure(completed)}
                continue
            phases = parse_marker(completed.stdout)
            # The CDK's Node process is the largest profile (a helper process may write a small one too).
            largest = max(profiles.glob("*.cpuprofile"), key=lambda path: path.stat().st_size)
            parts = categorize(json.loads(largest.read_text()))
            result[kind] = {
                "wall_s_profiled": wall,
                "node_ms_by_part": parts,
                "node_ms_total": round(sum(parts.values()), 1),
                "python_alarm_routing_visits": phases.get("alarm_routing_visits"),
                "python_alarm_routing_s": phases.get("alarm_routing_s"),
                "jsii_round_trips": phases.get("jsii_round_trips"),
            }
    return result
