"""The checkpoints the plugins ship for synthcity small load, verify and run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vprkit.pipeline.models import load_model, shipped_checkpoint

SHIPPED = [("classifier", "dnc"), ("retriever", "cosplace")]


@pytest.mark.parametrize("kind,name", SHIPPED)
def test_shipped_checkpoint_loads_with_matching_fingerprints(kind, name):
    folder = shipped_checkpoint(kind, name)
    assert not (folder / "training").exists(), "optimizer state must not be shipped"
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 8 * 2**20, f"{folder} holds {size} bytes; ship a few MB at most"
    model = load_model(folder, kind)  # load() recomputes and checks every fingerprint
    from vprkit.models.artifact import read_manifest

    card = read_manifest(folder)["card"]
    assert (
        card["source"]["type"] == "trained" and card["test_transform"]["resize"] == model.config.test_transform.resize
    )
    images = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        if kind == "classifier":
            assert model.partition.num_classes > 100
            pred = model.classify(images, 5)
            assert pred.classes.shape == (2, 5) and np.isfinite(pred.coords).all()
        else:
            desc = model.encode(images)
            assert desc.shape == (2, model.descriptor_dim)
            assert torch.allclose(desc.norm(dim=1), torch.ones(2), atol=1e-4)


def test_a_method_without_a_checkpoint_says_how_to_train_one():
    from vprkit.errors import DataError

    with pytest.raises(DataError, match="vprkit train classifier dnc"):
        shipped_checkpoint("classifier", "dnc", tag="no-such-dataset")
