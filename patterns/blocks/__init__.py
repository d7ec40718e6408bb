"""The secure defaults every pattern is built from, written once."""

from .alarm_topic import AlarmTopic
from .alarms import threshold_alarm
from .assets import bundled_code, bundled_handler_dir
from .function import DEFAULT_RUNTIME, SecureFunction
from .nag import acknowledge, nag_ids, rendered_finding
from .powertools import (
    POWERTOOLS_LAYER_CONTEXT,
    POWERTOOLS_VERSION,
    powertools_layer,
    powertools_layer_arn,
    powertools_layer_parameter,
)
from .queue import SecureQueue, dead_letter_alarm, standalone_dead_letter_queue
from .table import SecureTable
from .topic import SecureTopic

__all__ = [
    "DEFAULT_RUNTIME",
    "POWERTOOLS_LAYER_CONTEXT",
    "POWERTOOLS_VERSION",
    "AlarmTopic",
    "SecureFunction",
    "SecureQueue",
    "SecureTable",
    "SecureTopic",
    "acknowledge",
    "bundled_code",
    "bundled_handler_dir",
    "dead_letter_alarm",
    "nag_ids",
    "powertools_layer",
    "powertools_layer_arn",
    "powertools_layer_parameter",
    "rendered_finding",
    "standalone_dead_letter_queue",
    "threshold_alarm",
]
