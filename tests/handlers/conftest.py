"""Fixtures shared by the items API handler tests: the handler loaded against a fresh table."""

from __future__ import annotations

import pytest
from items_api_harness import PK, Api, create_table, load_api


@pytest.fixture
def api(aws, monkeypatch) -> Api:
    create_table(PK)
    monkeypatch.setenv("PARTITION_KEY", PK)
    return load_api(monkeypatch)
