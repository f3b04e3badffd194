"""Shared fixtures. Fixtures that need a dataset build it on disk once per session."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from vprkit.data.filenames import format_filename
from vprkit.plugins import reset_plugins

ORIGIN_E, ORIGIN_N = 549_000.0, 4_178_000.0


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """The session's own cache folder: no test writes descriptor stores or bundles into the
    user's ``~/.cache/vprkit`` (a test that needs a fresh cache sets ``VPRKIT_CACHE_DIR`` itself)."""
    folder = tmp_path_factory.mktemp("vprkit_cache")
    before = os.environ.get("VPRKIT_CACHE_DIR")
    os.environ["VPRKIT_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("VPRKIT_CACHE_DIR", None)
    else:
        os.environ["VPRKIT_CACHE_DIR"] = before


@pytest.fixture
def fresh_plugins():
    """Reload the plugin registry before and after a test that changes what is installed."""
    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture
def install_plugin(fresh_plugins):
    """``install_plugin(plugin, name)``: register a plugin object for one test (as an entry point would)."""
    from vprkit.plugins import get_plugin_manager

    return lambda plugin, name: get_plugin_manager().register(plugin, name=name)


@pytest.fixture(scope="session")
def synthcity_tiny(tmp_path_factory):
    """Root of a generated ``tiny`` synthcity (seed 0, standard layout), built once per session."""
    from vprkit_synthcity.config import SynthCityConfig
    from vprkit_synthcity.generate import SynthCity

    root = tmp_path_factory.mktemp("synthcity_tiny")
    SynthCity(SynthCityConfig(size="tiny", seed=0, workers=1)).generate(root)
    return root


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest on one thread; on a shared 2-core box two threads spin-wait."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write_split(folder, points, headings, seed, size=32):
    """Images with a colour pattern per 20 m cell (a few iterations can learn it), standard names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for (e, n), h in zip(points, headings):
        cell = (int(e // 20) * 7 + int(n // 20) * 13) % 97
        base = np.array([cell * 37 % 255, cell * 91 % 255, cell * 53 % 255], dtype=np.float64)
        img = np.clip(base + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
        name = format_filename(ORIGIN_E + e, ORIGIN_N + n, 10, "S", 37.7, -122.4, heading=float(h), ext=".png")
        Image.fromarray(img).save(folder / name)


@pytest.fixture(scope="session")
def tiny_vpr_dataset(tmp_path_factory):
    """A tiny standard-layout dataset for trainer tests: 16 cells of 20 m, each with its own colour
    pattern; headings for CosPlace; train + val. Tests that change it work on a copy."""
    root = tmp_path_factory.mktemp("tiny_vpr")
    rng = np.random.default_rng(0)
    cells = np.stack(np.meshgrid(np.arange(4), np.arange(4), indexing="ij"), -1).reshape(-1, 2)
    train = (np.repeat(cells, 12, axis=0) + rng.uniform(0.05, 0.95, (len(cells) * 12, 2))) * 20.0
    _write_split(root / "images" / "train", train, rng.uniform(0, 360, len(train)), 1)
    db = (cells + 0.5) * 20.0
    _write_split(root / "images" / "val" / "database", db, np.zeros(len(db)), 2)
    q = db + rng.uniform(-3, 3, db.shape)
    _write_split(root / "images" / "val" / "queries", q, np.zeros(len(q)), 3)
    return root


@pytest.fixture(scope="session")
def tiny_model_dirs(synthcity_tiny, tmp_path_factory):
    """Untrained tinycnn D&C (``dnc/``, no test resize) and CosPlace (``cosplace/``) model folders
    for synthcity tiny: real components that run in a second."""
    from vprkit import create_classifier, create_partitioner, create_retriever
    from vprkit.data.standard import load_split

    train = load_split(synthcity_tiny, "train")
    partition = create_partitioner("dnc", min_images_per_class=1).fit(train.east, train.north)
    torch.manual_seed(1)
    out = tmp_path_factory.mktemp("tiny_models")
    create_classifier("dnc", backbone="tinycnn", test_transform={"resize": "none"}).build(partition).save(out / "dnc")
    create_retriever("cosplace", backbone="tinycnn").save(out / "cosplace")
    return out


@pytest.fixture
def build_tiny_bundle(tiny_model_dirs):
    """``build(out, dataset)``: the map bundle of the ``tiny_model_dirs`` D&C and CosPlace models over
    ``dataset``'s test database (:func:`vprkit.pipeline.bundle.build_bundle`)."""
    from vprkit.data.standard import load_split
    from vprkit.pipeline.bundle import build_bundle
    from vprkit.pipeline.models import load_model

    def build(out, dataset):
        classifier, retriever = load_model(tiny_model_dirs / "dnc"), load_model(tiny_model_dirs / "cosplace")
        return build_bundle(out, load_split(dataset, "test/database"), classifier=classifier, retriever=retriever)

    return build
