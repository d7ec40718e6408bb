"""The synth profile's sorting of Node CPU samples into parts of the work (bench/synth_profile.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from synth_profile import categorize


def frame(node_id: int, name: str, children: tuple[int, ...] = (), url: str = "") -> dict:
    return {"id": node_id, "callFrame": {"functionName": name, "url": url}, "children": list(children)}


def profile(nodes: list[dict], samples: list[tuple[int, int]]) -> dict:
    return {"nodes": nodes, "samples": [s for s, _ in samples], "timeDeltas": [d for _, d in samples]}


@pytest.fixture
def tree() -> list[dict]:
    # root -> run -> read (waiting for Python)
    #             -> synthesize -> invokeAspectsV2 -> callbackHandler -> read (a visit in Python)
    #                           -> validateTemplates -> validate (cdk-nag) -> wrapModuleLoad
    #                                                -> _singletonInstance -> compile (wasm)
    #             -> _Kernel_create -> wrapModuleLoad
    return [
        frame(1, "(root)", (2,)),
        frame(2, "run", (3, 4, 12)),
        frame(3, "read"),
        frame(4, "synthesize", (5, 8)),
        frame(5, "invokeAspectsV2", (6,)),
        frame(6, "callbackHandler", (7,)),
        frame(7, "read"),
        frame(8, "validateTemplates", (9, 10)),
        frame(9, "validate", (11,), url="file:///x/node_modules/cdk-nag/lib/nag-pack.js"),
        frame(10, "_singletonInstance", (14,), url="file:///x/core/lib/validation/cloudformation-validate-plugin.js"),
        frame(11, "wrapModuleLoad"),
        frame(12, "_Kernel_create", (13,)),
        frame(13, "wrapModuleLoad"),
        frame(14, "compile", url="wasm://wasm/021d73e6"),
    ]


def test_each_sample_goes_to_the_most_specific_part_on_its_stack(tree):
    parts = categorize(profile(tree, [(3, 1000), (7, 2000), (11, 3000), (14, 4000), (13, 5000), (4, 6000)]))
    assert parts == {
        "templates, assets and files": 6.0,
        "loading CDK modules": 5.0,  # a module a constructor loads counts as loading, not constructing
        "CloudFormation validation: engine start": 4.0,
        "cdk-nag packs": 3.0,  # the module it loads counts as the pack's
        "Aspects (their visits in Python included)": 2.0,  # the visit's time in Python counts as the Aspect's
        "waiting for Python (imports, construct code)": 1.0,
    }


def test_the_parts_add_up_to_every_sample_and_unknown_stacks_are_other(tree):
    samples = [(1, 700), (2, 300), (3, 1000)]
    parts = categorize(profile(tree, samples))
    assert parts == {"other (kernel, start-up)": 1.0, "waiting for Python (imports, construct code)": 1.0}
    assert sum(parts.values()) == sum(d for _, d in samples) / 1000
