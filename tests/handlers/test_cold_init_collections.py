"""Handlers whose init would set off a full garbage collection pause the collector while their client loads.

A full collection walks every object alive; during init that is every module imported, and one
costs about a tenth of a cold start. The items API (with the X-Ray SDK its Tracer imports) and the
upload grant (with S3's service model) would each run one while their client loads its service
model (objects that all stay: nothing to collect); with the collector paused meanwhile they run
none, as the lighter handlers do without it. The collector runs again afterwards.
"""

from __future__ import annotations

import pytest
from fresh_import import cold_import

ENVIRONMENTS = {
    "items_api": {"TABLE_NAME": "items", "POWERTOOLS_SERVICE_NAME": "items-api"},
    "upload_grant": {"UPLOAD_BUCKET": "uploads", "POWERTOOLS_SERVICE_NAME": "grants"},
}


@pytest.mark.parametrize("function", sorted(ENVIRONMENTS))
def test_a_cold_start_runs_no_full_garbage_collection(function):
    assert cold_import(function, ENVIRONMENTS[function]).full_collections == 0


@pytest.mark.parametrize("function", sorted(ENVIRONMENTS))
def test_the_collector_runs_again_after_init(function):
    assert cold_import(function, ENVIRONMENTS[function]).collector_enabled
