"""Shared fixtures. Fixtures that need a dataset build it on disk once per session."""

from __future__ import annotations

import pytest

from vprkit.plugins import reset_plugins


@pytest.fixture
def fresh_plugins():
    """Reload the plugin registry before and after a test that changes what is installed."""
    reset_plugins()
    yield
    reset_plugins()
