"""The consumer matrix app, synthesized once per test session."""

from __future__ import annotations

import pytest

from consumer.matrix import SynthesizedMatrix, synthesize_matrix


@pytest.fixture(scope="session")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedMatrix:
    return synthesize_matrix(tmp_path_factory.mktemp("consumer-matrix"))
