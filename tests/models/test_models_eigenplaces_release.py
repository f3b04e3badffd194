"""EigenPlaces releases through ``vprkit models import eigenplaces``: files built here in the
authors' layout with torchvision modules and random weights give, through vprkit, the authors'
descriptors (every key consumed, shapes equal, within 1e-5 on a square and a 2:3 image); the
release list is hubconf.py's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from release_formats import COSPLACE_TEST, CosPlaceNet, randomise_batch_norm

from vprkit.errors import DataError
from vprkit.models.official import cosplace_to_vprkit
from vprkit.models.release import import_model
from vprkit.pipeline.models import load_model
from vprkit.registry import get_spec

#: the official eval transform (datasets/test_dataset.py): ToTensor + ImageNet Normalize, no resize
EIGENPLACES_TEST = COSPLACE_TEST


class EigenPlacesNet(CosPlaceNet):
    """The official ``GeoLocalizationNet_`` (gmberton/EigenPlaces @ a2969f7,
    eigenplaces_model/eigenplaces_network.py): torchvision ResNet ``children()[:-2]`` or VGG16
    ``features.children()[:-2]`` as ``backbone``, then ``aggregation`` = (L2Norm, GeM, Flatten,
    Linear, L2Norm) — the modules, names and order of CosPlace's network, so its reference is reused."""


def _images(seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    square = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    wide = rng.integers(0, 256, (96, 144, 3), dtype=np.uint8)  # non-square: 2:3
    return [Image.fromarray(square), Image.fromarray(wide)]


@pytest.mark.parametrize(("backbone", "dim"), [("ResNet18", 256), ("ResNet50", 2048), ("VGG16", 512)])
def test_eigenplaces_release_gives_the_authors_descriptors(tmp_path, backbone, dim):
    torch.manual_seed(0)
    official = EigenPlacesNet(backbone, dim).eval()
    randomise_batch_norm(official)
    state = official.state_dict()
    weights = tmp_path / f"{backbone}_{dim}_eigenplaces.pth"
    torch.save(state, weights)  # the hub release: a plain state dict

    model, card = import_model("eigenplaces", weights, tmp_path / "model")
    assert (model.config.backbone, model.config.fc_output_dim) == (backbone.lower(), dim)
    assert card["source"]["type"] == "release" and card["test_transform"]["resize"] == "none"
    assert card["source"]["release"] == f"{backbone.lower()}_{dim}"  # known by its file name
    # every key of the file maps onto one of the network, with its shape, and none is left out
    mapped = cosplace_to_vprkit(state)
    ours = model.net.state_dict()
    assert len(mapped) == len(state) and set(mapped) == set(ours)
    assert all(mapped[k].shape == ours[k].shape for k in ours)

    loaded = load_model(tmp_path / "model", "retriever")
    for image in _images():
        with torch.no_grad():
            reference = official(EIGENPLACES_TEST(image)[None])
        got = loaded.encode(loaded.transform(image)[None])
        assert got.shape == (1, dim)
        assert float((got - reference).abs().max()) <= 1e-5
    assert (tmp_path / "model" / "training" / "last.pt").is_file()  # the start checkpoint of --resume


def test_training_checkpoint_imports_and_mismatches_are_refused(tmp_path):
    torch.manual_seed(1)
    official = EigenPlacesNet("ResNet18", 64).eval()
    ckpt = {  # the official trainer's last_checkpoint.pth (DataParallel prefix, heads not imported)
        "epoch_num": 3,
        "model_state_dict": {f"module.{k}": v for k, v in official.state_dict().items()},
        "classifiers_state_dict": [{"weight": torch.randn(5, 64)}, {"weight": torch.randn(4, 64)}],
        "best_val_recall1": 40.0,
    }
    torch.save(ckpt, tmp_path / "last_checkpoint.pth")
    model, _ = import_model("eigenplaces", tmp_path / "last_checkpoint.pth", tmp_path / "m")
    assert model.descriptor_dim == 64 and model.name == "eigenplaces"
    with pytest.raises(DataError, match="not the resnet50"):
        import_model(
            "eigenplaces", tmp_path / "last_checkpoint.pth", tmp_path / "m2", overrides={"backbone": "resnet50"}
        )
    with pytest.raises(DataError, match="neither a file nor a eigenplaces release"):
        import_model("eigenplaces", "resnet18_64", tmp_path / "m3")  # hubconf has no ResNet-18 at 64-D
    assert not (tmp_path / "m2").exists() and not (tmp_path / "m3").exists()


def test_releases_are_hubconfs_list():
    spec = get_spec("retriever", "eigenplaces")
    names = [r.name for r in spec.releases]
    assert names == [
        "vgg16_512",
        "resnet18_256",
        "resnet18_512",
        *[f"resnet50_{d}" for d in (128, 256, 512, 1024, 2048)],
        *[f"resnet101_{d}" for d in (128, 256, 512, 1024, 2048)],
    ]
    r50 = spec.release("resnet50_2048")
    assert r50 is not None and r50.filename == "ResNet50_2048_eigenplaces.pth"
    assert r50.url == "https://github.com/gmberton/EigenPlaces/releases/download/v1.0/ResNet50_2048_eigenplaces.pth"
    assert dict(r50.config) == {"backbone": "resnet50", "fc_output_dim": 2048}
    assert spec.card.license == "MIT" and all("MIT" in r.license for r in spec.releases)


def test_an_imported_release_fine_tunes_with_resume(tmp_path, synthcity_tiny, one_torch_thread):
    """``vprkit train retriever eigenplaces --out DIR --resume`` on an imported folder starts from the
    release's network with fresh lateral and frontal heads for the dataset's groups."""
    from vprkit.training.api import train_model

    torch.manual_seed(2)
    official = EigenPlacesNet("ResNet18", 256).eval()
    torch.save(official.state_dict(), tmp_path / "ResNet18_256_eigenplaces.pth")
    imported, _ = import_model("eigenplaces", tmp_path / "ResNet18_256_eigenplaces.pth", tmp_path / "model")
    options = [
        "partition.M=20",
        "partition.N=2",
        "partition.min_images_per_class=2",
        "training.epochs=1",
        "training.iterations_per_epoch=2",
        "training.batch_size=2",
        "training.image_size=32",
        "training.num_workers=0",
        "training.device=cpu",
        "training.validate_every=0",
    ]
    tuned = train_model("retriever", "eigenplaces", synthcity_tiny, tmp_path / "model", overrides=options, resume=True)
    summary = tuned.training_summary
    assert summary["initialised_from"] == "EigenPlaces release ResNet18_256_eigenplaces.pth"
    record = summary["history"][0]
    assert record["loss"] == pytest.approx(record["lateral_loss"] + record["frontal_loss"], rel=1e-6)
    fc = "aggregation.2.weight"  # the linear layer after GeM: trained, so moved off the release
    assert not torch.equal(tuned.net.state_dict()[fc], imported.net.state_dict()[fc])
