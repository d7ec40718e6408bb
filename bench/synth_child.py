"""Synthesize one app in this (fresh) interpreter and print how long each phase took.

    python bench/synth_child.py whole OUTDIR     every stack of stacks.DEMO_STACKS, via app.build_app
    python bench/synth_child.py trivial OUTDIR   one stack holding one sns.Topic, same feature flags,
                                                 same cdk-nag packs registered
    python bench/synth_child.py reference OUTDIR  via app.build_app, only the stacks of REFERENCE_STACKS
                                                 (the demo app the synth target was set on)

Phases: ``import_s`` (aws_cdk, cdk_nag and, for ``whole``, the app's own modules), ``build_s``
(constructing the tree and registering the packs; for ``whole`` also per stack) and ``synth_s`` (``app.synth()``, which runs
jsii's synthesis and the nag validation). The parent times the whole process too (interpreter
start-up and jsii's Node process shutdown included). ``jsii_round_trips`` counts the requests
Python sent to jsii's Node process per phase: a count, not a timing, so it does not move with the
machine's load.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARKER = "BENCH_RESULT "
#: The demo stacks when the synth target (whole/trivial <= 1.8x) was set: new demo stacks add their
#: own resources and checks, so the target is kept on this set and the whole app is reported beside it.
REFERENCE_STACKS = (
    "ApiLambdaTableDemo",
    "BuildingBlocksDemo",
    "CanaryDemo",
    "CognitoApiDemo",
    "FanoutDemo",
    "ItemsServiceDemo",
)


def count_round_trips() -> dict[str, int]:
    """Count every request to jsii's Node process from now on, into the returned dict (key ``"n"``)."""
    from jsii._kernel.providers import process

    counter = {"n": 0}
    send = process._NodeProcess.send

    def counting(self, request, response_type):
        counter["n"] += 1
        return send(self, request, response_type)

    process._NodeProcess.send = counting
    return counter


def time_alarm_routing() -> dict:
    """Time every visit of the alarm routing Aspect (Python's side of the callback), into the returned dict."""
    from patterns.alarm_routing import AlarmRouting

    totals = {"n": 0, "s": 0.0}
    visit = AlarmRouting.visit

    def timed(self, node):
        began = time.perf_counter()
        try:
            return visit(self, node)
        finally:
            totals["n"] += 1
            totals["s"] += time.perf_counter() - began

    AlarmRouting.visit = timed
    return totals


def feature_flags() -> dict:
    """The demo app's feature flags (cdk.json's context), read without importing the app or the patterns."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def main(kind: str, outdir: str) -> None:
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    round_trips = count_round_trips()
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks

    stack_build_s: dict[str, float] = {}
    if kind in ("whole", "reference"):
        from app import build_app
        from stacks import DEMO_STACKS

        if kind == "reference":
            for name in list(DEMO_STACKS):
                if name not in REFERENCE_STACKS:
                    del DEMO_STACKS[name]

        # Time each stack's construction: build_app iterates this same dict, so wrap its classes.
        for name, stack_class in list(DEMO_STACKS.items()):

            def timed(scope, id, *args, _stack_class=stack_class, **kwargs):
                began = time.perf_counter()
                stack = _stack_class(scope, id, *args, **kwargs)
                stack_build_s[id] = time.perf_counter() - began
                return stack

            DEMO_STACKS[name] = timed
    else:
        from aws_cdk import aws_sns as sns
    routing_time = time_alarm_routing() if kind in ("whole", "reference") and os.environ.get("BENCH_PROFILE") else None
    imported = time.perf_counter()
    trips = {"import": round_trips["n"]}

    if kind in ("whole", "reference"):
        app = build_app(outdir=outdir)
    else:
        app = cdk.App(outdir=outdir, context=feature_flags())
        stack = cdk.Stack(app, "TrivialTopic")
        sns.Topic(stack, "Topic", enforce_ssl=True)
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    built = time.perf_counter()
    trips["build"] = round_trips["n"] - trips["import"]

    error = None
    try:
        app.synth()
    except Exception as failure:  # cdk-nag findings (ValidationFailed) or anything else: still timed
        error = f"{type(failure).__name__}: {str(failure)[:500]}"
    synthesized = time.perf_counter()
    trips["synth"] = round_trips["n"] - trips["import"] - trips["build"]
    print(
        RESULT_MARKER
        + json.dumps(
            {
                "import_s": imported - started,
                "build_s": built - imported,
                "synth_s": synthesized - built,
                "stack_build_s": stack_build_s,
                "jsii_round_trips": trips,
                "error": error,
                **(
                    {"alarm_routing_visits": routing_time["n"], "alarm_routing_s": routing_time["s"]}
                    if routing_time
                    else {}
                ),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("whole", "trivial", "reference"):
        sys.exit("usage: synth_child.py whole|trivial|reference OUTDIR")
    main(sys.argv[1], sys.argv[2])
