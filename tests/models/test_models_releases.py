"""Released weights through ``vprkit models import``: files built here in the authors' release
layouts (tests/models/release_formats.py) must give, through vprkit, the authors' descriptors,
per-class scores and top-5 cells, on square and non-square images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from release_formats import (
    COSPLACE_TEST,
    CosPlaceNet,
    DncNet,
    NetVLADNet,
    dnc_checkpoint,
    dnc_train_args,
    netvlad_checkpoint,
    official_dnc_groups,
    official_dnc_scores,
    random_points,
    randomise_batch_norm,
    standard_name,
)

from vprkit.errors import ConfigError, DataError
from vprkit.models.release import import_model
from vprkit.pipeline.models import load_model


def _images(seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    square = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    wide = rng.integers(0, 256, (96, 144, 3), dtype=np.uint8)  # non-square: 2:3
    return [Image.fromarray(square), Image.fromarray(wide)]


@pytest.mark.parametrize(("backbone", "dim"), [("ResNet18", 512), ("ResNet50", 2048), ("VGG16", 512)])
def test_cosplace_release_gives_the_authors_descriptors(tmp_path, backbone, dim):
    torch.manual_seed(0)
    official = CosPlaceNet(backbone, dim).eval()
    randomise_batch_norm(official)
    weights = tmp_path / f"{backbone}_{dim}_cosplace.pth"
    torch.save(official.state_dict(), weights)  # the hub release: a plain state dict

    model, card = import_model("cosplace", weights, tmp_path / "model")
    assert (model.config.backbone, model.config.fc_output_dim) == (backbone.lower(), dim)
    assert card["source"]["type"] == "release" and card["test_transform"]["resize"] == "none"
    loaded = load_model(tmp_path / "model", "retriever")
    for image in _images():
        with torch.no_grad():
            reference = official(COSPLACE_TEST(image)[None])
        ours = loaded.encode(loaded.transform(image)[None])
        assert ours.shape == (1, dim)
        assert float((ours - reference).abs().max()) <= 1e-5
    # a batch of a square and a 2:3 image runs once per size and keeps the order
    from vprkit.models.transforms import apply_by_shape

    images = _images()
    batch = apply_by_shape(loaded.encode, [loaded.transform(i) for i in images + images[:1]])
    single = torch.cat([loaded.encode(loaded.transform(i)[None]) for i in images + images[:1]])
    assert torch.allclose(batch, single, atol=1e-6)


def test_cosplace_training_checkpoint_and_refusals(tmp_path):
    torch.manual_seed(1)
    official = CosPlaceNet("ResNet18", 64).eval()
    ckpt = {
        "epoch_num": 2,
        "model_state_dict": {f"module.{k}": v for k, v in official.state_dict().items()},
        "best_val_recall1": 50.0,
    }
    torch.save(ckpt, tmp_path / "last_checkpoint.pth")
    model, _ = import_model("cosplace", tmp_path / "last_checkpoint.pth", tmp_path / "m")
    assert model.descriptor_dim == 64
    with pytest.raises(DataError, match="not the resnet50"):
        import_model("cosplace", tmp_path / "last_checkpoint.pth", tmp_path / "m2", overrides={"backbone": "resnet50"})
    with pytest.raises(ConfigError, match="not empty"):
        import_model("cosplace", tmp_path / "last_checkpoint.pth", tmp_path / "m")
    with pytest.raises(DataError, match="neither a file nor a cosplace release"):
        import_model("cosplace", "resnet18_999", tmp_path / "m3")
    assert not (tmp_path / "m2").exists() and not (tmp_path / "m3").exists()


def test_netvlad_checkpoint_gives_the_ports_descriptors(tmp_path):
    torch.manual_seed(2)
    official = NetVLADNet(clusters=16).eval()
    with torch.no_grad():  # centroids near the local features, as after k-means
        official.pool.centroids.mul_(0.1)
        official.pool.conv.weight.mul_(20)
    torch.save(netvlad_checkpoint(official), tmp_path / "checkpoint.pth.tar")
    model, card = import_model("netvlad", tmp_path / "checkpoint.pth.tar", tmp_path / "model")
    assert model.descriptor_dim == 16 * 512 and card["source"]["epoch"] == 5
    loaded = load_model(tmp_path / "model", "retriever")
    for image in _images(2):
        with torch.no_grad():
            reference = official(COSPLACE_TEST(image)[None])
        ours = loaded.encode(loaded.transform(image)[None])
        assert float((ours - reference).abs().max()) <= 1e-5


# ----------------------------------------------------------------------------------------- D&C
@pytest.fixture(scope="module")
def dnc_release(tmp_path_factory):
    """Training names (two folders, so path order ≠ name order), the official network and heads
    sized by the official class table of those names."""
    tmp = tmp_path_factory.mktemp("dnc_release")
    rng = np.random.default_rng(3)
    east, north = random_points(rng, 2500)
    folders = rng.choice(["2017", "2018"], len(east))
    names = [f"{d}/{standard_name(e, n, pano=f'p{i}')}" for i, (d, e, n) in enumerate(zip(folders, east, north))]
    rng.shuffle(names)
    (tmp / "train_names.txt").write_text("\n".join(names) + "\n")
    table = official_dnc_groups(names)
    torch.manual_seed(0)
    net = DncNet().eval()
    randomise_batch_norm(net, seed=1)
    heads = [torch.nn.init.xavier_uniform_(torch.empty(len(g), 1280)) * 30 for g in table]
    return {"dir": tmp, "names": names, "table": table, "net": net, "heads": heads}


def _vprkit_scores(model, image) -> tuple[torch.Tensor, dict[tuple[int, int], float]]:
    desc = model.descriptor(model.transform(image)[None])
    part = model.partition
    scores = {}
    for k, classes in enumerate(part.groups):
        s = model.heads[k].scores(desc, "raw")[0]
        for c, v in zip(classes.tolist(), s.tolist()):
            scores[tuple(int(x) for x in part.class_keys[c])] = v
    return desc, scores


@pytest.mark.parametrize("layout", ["best", "full"])
def test_dnc_release_gives_the_authors_scores_and_cells(tmp_path, dnc_release, layout):
    r = dnc_release
    weights = tmp_path / f"{layout}.pth"
    torch.save(
        dnc_checkpoint(r["net"], r["heads"], full=layout == "full", prefix="module." if layout == "full" else ""),
        weights,
    )
    model, card = import_model("dnc", weights, tmp_path / "model", train_names=r["dir"] / "train_names.txt")
    assert card["source"]["official_group_sizes"] == [len(g) for g in r["table"]]
    assert card["test_transform"]["resize"] == "shorter_side" and card["test_transform"]["size"] == 256
    model = load_model(tmp_path / "model", "classifier")

    # the test is not vacuous: vprkit's own class order is not the release's
    official_order = [c for g in r["table"] for c in g]
    vprkit_order = [tuple(int(x) for x in model.partition.class_keys[c]) for g in model.partition.groups for c in g]
    assert sorted(official_order) == sorted(vprkit_order) and official_order != vprkit_order

    centres = np.asarray(official_order, dtype=np.float64) + 10  # the official class + M // 2
    for image in _images(1):
        ref_desc, ref_scores = official_dnc_scores(r["net"], r["heads"], image)
        desc, scores = _vprkit_scores(model, image)
        assert float((desc - ref_desc).abs().max()) <= 1e-5
        diff = max(abs(scores[c] - float(v)) for c, v in zip(official_order, ref_scores[0].tolist()))
        assert diff <= 1e-4
        top5_ref = centres[ref_scores[0].argsort(descending=True)[:5].numpy()]
        top5 = model.classify_descriptors(desc, 5).coords[0]
        np.testing.assert_array_equal(top5, top5_ref)


def test_dnc_release_needs_the_training_list_and_the_right_one(tmp_path, dnc_release):
    r = dnc_release
    torch.save(dnc_checkpoint(r["net"], r["heads"]), tmp_path / "best.pth")
    with pytest.raises(DataError, match="--train-names"):
        import_model("dnc", tmp_path / "best.pth", tmp_path / "a")
    other = r["names"][: len(r["names"]) // 2]
    (tmp_path / "other.txt").write_text("\n".join(other))
    with pytest.raises(DataError, match="not the list"):
        import_model("dnc", tmp_path / "best.pth", tmp_path / "b", train_names=tmp_path / "other.txt")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_dnc_official_class_cache_and_paths_cache_give_the_same_model(tmp_path, dnc_release):
    r = dnc_release
    torch.save(dnc_checkpoint(r["net"], r["heads"]), tmp_path / "best.pth")
    a, _ = import_model("dnc", tmp_path / "best.pth", tmp_path / "a", train_names=r["dir"] / "train_names.txt")
    # the official caches: cache/paths_<dataset>.torch (sorted relative paths) and the class cache
    torch.save(sorted(f"/{n}" for n in r["names"]), tmp_path / "paths_sf_xl.torch")
    b, _ = import_model("dnc", tmp_path / "best.pth", tmp_path / "b", train_names=tmp_path / "paths_sf_xl.torch")
    torch.save((r["table"], [{} for _ in r["table"]]), tmp_path / "sf_xl_M20_N2_mipc10.torch")
    c, _ = import_model(
        "dnc", tmp_path / "best.pth", tmp_path / "c", class_table=tmp_path / "sf_xl_M20_N2_mipc10.torch"
    )
    for m in (b, c):
        for h_a, h_m in zip(a.heads, m.heads):
            assert torch.equal(h_a.weight, h_m.weight)
        np.testing.assert_array_equal(a.partition.class_keys, m.partition.class_keys)


def test_dnc_training_checkpoint_maps_the_optimizer_states(tmp_path, dnc_release):
    from vprkit.training.checkpoint import load_checkpoint

    r = dnc_release
    args = dnc_train_args(epochs_num=40, iterations_per_epoch=2000, batch_size=64, train_resize=(224, 224))
    ckpt = dnc_checkpoint(r["net"], r["heads"], full=True, args=args, epoch=7)
    torch.save(ckpt, tmp_path / "last_checkpoint.pth")
    model, card = import_model(
        "dnc", tmp_path / "last_checkpoint.pth", tmp_path / "m", train_names=r["dir"] / "train_names.txt"
    )
    assert card["source"]["format"] == "full training checkpoint" and card["source"]["epoch_num"] == 7
    assert model.config.training.epochs == 40 and model.config.training.image_size == 224
    start = load_checkpoint(tmp_path / "m" / "training" / "last.pt")
    assert start["state"]["epoch"] == 7
    # every official Adam moment lands on the vprkit parameter of the same name, rows permuted
    trainable = [n for n, p in model.net.named_parameters() if p.requires_grad]
    assert len(start["backbone_opt"]["state"]) == len(ckpt["optimizer_state_dict"]["state"])
    whiten = trainable.index("aggregation.1.weight")
    official_whiten = (
        len(
            [
                k
                for k in ckpt["model_state_dict"]
                if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
            ]
        )
        - 2
    )
    assert torch.equal(
        start["backbone_opt"]["state"][whiten]["exp_avg"],
        ckpt["optimizer_state_dict"]["state"][official_whiten]["exp_avg"],
    )
    official_order = [c for g in r["table"] for c in g]
    offsets = np.cumsum([0] + [len(g) for g in r["table"]])
    for j, group in enumerate(r["table"]):
        moments = ckpt["optimizers_state_dict"][j]["state"][0]["exp_avg"]
        for row, cell in list(enumerate(group))[:5]:
            c = int(np.flatnonzero((model.partition.class_keys == np.asarray(cell)).all(1))[0])
            k = int(model.partition.group_of_class[c])
            local = int(np.flatnonzero(model.partition.groups[k] == c)[0])
            assert torch.equal(start["head_opts"][k]["state"][0]["exp_avg"][local], moments[row])
            assert torch.equal(start["heads"][f"{k}.weight"][local], r["heads"][j][row])
        assert official_order[offsets[j]] == group[0]


def test_unsafe_pickles_are_refused_and_nothing_is_written(tmp_path):
    import os

    class Payload:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    torch.save({"model_state_dict": {}, "classifiers_state_dict": [], "x": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(DataError, match="pickled object"):
        import_model("dnc", tmp_path / "evil.pth", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "pwned").exists()
