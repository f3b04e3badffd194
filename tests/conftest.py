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


@pytest.fixture(scope="session")
def synthcity_tiny(tmp_path_factory):
    """Root of a generated ``tiny`` synthcity (seed 0, standard layout), built once per session."""
    from vprkit_synthcity.config import SynthCityConfig
    from vprkit_synthcity.generate import SynthCity

    root = tmp_path_factory.mktemp("synthcity_tiny")
    SynthCity(SynthCityConfig(size="tiny", seed=0, workers=1)).generate(root)
    return root
