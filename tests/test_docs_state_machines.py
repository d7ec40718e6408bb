"""The docs' state machine diagrams: every state and transition of a template's definition, nothing invented."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "docs" / "state_machine_diagram.py"
_spec = importlib.util.spec_from_file_location("docs_state_machine_diagram", _PATH)
diagram = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = diagram
_spec.loader.exec_module(diagram)

DEFINITION = {
    "StartAt": "Charge",
    "States": {
        "Charge": {
            "Type": "Task",
            "Resource": "RESOURCE",
            "Retry": [{"ErrorEquals": ["Busy"], "MaxAttempts": 2, "JitterStrategy": "FULL"}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Refund"}],
            "Next": "Done",
        },
        "Refund": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:cloudwatch:putMetricData", "Next": "Check"},
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Failed"}],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
        "Failed": {"Type": "Fail", "Error": "Saga.RolledBack"},
    },
}


def template() -> dict:
    before, after = json.dumps(DEFINITION).split('"RESOURCE"')
    joined = {"Fn::Join": ["", [before + '"', {"Fn::GetAtt": ["ChargeFn1234", "Arn"]}, '"' + after]]}
    machine = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"DefinitionString": joined}}
    return {"Resources": {"SagaMachineABCD": machine}}


def test_one_page_per_state_machine_named_by_its_construct_path():
    pages = diagram.state_machine_pages("Demo", template(), {"SagaMachineABCD": "Saga/StateMachine"})
    assert list(pages) == ["Demo-Saga-StateMachine.md"]
    assert "```mermaid\nflowchart TD\n" in pages["Demo-Saga-StateMachine.md"]


def test_states_transitions_catches_and_retries_are_drawn():
    chart = diagram.mermaid(diagram.definition(template()["Resources"]["SagaMachineABCD"]["Properties"]))
    assert '  start((" ")) --> s_Charge' in chart
    assert 's_Charge["Charge<br/>Task: Lambda<br/>retry 2x on 1 error names, jitter"]' in chart
    assert '  s_Charge -.->|"States.ALL"| s_Refund' in chart
    assert "  s_Charge --> s_Done" in chart
    assert "Task: cloudwatch:putMetricData" in chart
    assert '  s_Check -->|"$.x IsPresent True"| s_Failed' in chart
    assert '  s_Check -->|"otherwise"| s_Done' in chart
    assert 's_Failed(["Failed<br/>Fail<br/>Saga.RolledBack"])' in chart
    assert chart == diagram.mermaid(DEFINITION)  # the reference to the function changes nothing drawn
