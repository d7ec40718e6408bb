"""Step Functions state machines, created on the local endpoint and run by moto's ASL interpreter.

The definition is the template's (``DefinitionString``, or ``Definition`` with
``DefinitionSubstitutions``), its references resolved like any other property, so its Lambda
tasks name the local functions' ARNs; moto is told to execute state machines
(``stepfunctions.execute_state_machine``) when the first one is created. Logging, tracing and
encryption settings are not applied locally (they are AWS-side concerns: CloudWatch Logs, X-Ray, KMS).
"""

from __future__ import annotations

import json
import urllib.request

from .model import ACCOUNT
from .provision_stack import Resource, StackProvisionerBase

# Service limit on a state machine's name.
_NAME_LIMIT = 80


class StepFunctionsProvisioner(StackProvisionerBase):
    """Creates a stack's state machines (an existing one of the same name is updated)."""

    def _state_machine(self, resource: Resource) -> None:
        name = resource.prop("StateMachineName") or self._physical_name(resource.logical_id, _NAME_LIMIT)
        definition = _definition(resource)
        role = resource.prop("RoleArn") or f"arn:aws:iam::{ACCOUNT}:role/{name}"
        client = self.run.clients("stepfunctions")
        _execute_state_machines(client.meta.endpoint_url)
        kind = resource.prop("StateMachineType", "STANDARD")
        arn = f"arn:aws:states:{self.region}:{ACCOUNT}:stateMachine:{name}"
        try:
            client.describe_state_machine(stateMachineArn=arn)
            client.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role)
        except client.exceptions.StateMachineDoesNotExist:
            arn = client.create_state_machine(name=name, definition=definition, roleArn=role, type=kind)[
                "stateMachineArn"
            ]
        self._record(resource.logical_id, arn, Arn=arn, Name=name, StateMachineRevisionId="INITIAL")


def _definition(resource: Resource) -> str:
    if "DefinitionString" in resource.properties:
        definition: str = resource.required("DefinitionString")
    else:
        definition = json.dumps(resource.required("Definition"))
    for key, value in (resource.prop("DefinitionSubstitutions") or {}).items():
        definition = definition.replace(f"${{{key}}}", str(value))
    return definition


def _execute_state_machines(endpoint: str) -> None:
    """Ask moto to run executions (by default it only records them)."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
