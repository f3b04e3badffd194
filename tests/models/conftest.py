"""Model tests run on one torch thread (tiny tensors; a shared 2-core box)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield
