"""Trainer tests run on one torch thread; their dataset is ``tiny_vpr_dataset`` (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield
