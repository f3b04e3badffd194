"""EigenPlaces: focal points of hand-made cells (exact values), the crop each panorama gives each
view, the classes against a reference written with loops from the paper's definition (SVD of the
centred positions), the two-head trainer (which heads step, the loss weights, exact resume), and a
trained EigenPlaces retriever behind D&C's top-N cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from vprkit_eigenplaces.config import EigenPlacesPartitionConfig, EigenPlacesTrainingConfig
from vprkit_eigenplaces.partition import (
    bearing_deg,
    build_classes,
    cell_partition_config,
    focal_points,
    principal_axes,
    select_views,
)
from vprkit_eigenplaces.retriever import EigenPlacesRetriever
from vprkit_eigenplaces.trainer import EigenPlacesTrainer

from vprkit.data.image_list import ImageList
from vprkit.models.descriptor import build_descriptor_net
from vprkit.models.heads import CosFaceHead
from vprkit.registry import create_partitioner
from vprkit.training.augment import train_transform
from vprkit.training.data import ImageDataset, group_data_from_labels

pytestmark = pytest.mark.usefixtures("one_torch_thread")

E0, N0 = 550_000.0, 4_180_000.0  # a UTM origin: the arithmetic must not lose the metres


# ------------------------------------------------------------------------------ focal points
def _street_cells() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class 0: four positions along an east–west street, symmetric about it (minor axis north);
    class 1: five positions along a street 30° counter-clockwise from east, ±0.5 m across it."""
    e0 = np.array([0.0, 4.0, 8.0, 12.0])
    n0 = np.array([1.0, -1.0, -1.0, 1.0])
    along, across = np.deg2rad(30.0), np.deg2rad(120.0)
    t = np.array([-6.0, -3.0, 0.0, 3.0, 6.0])
    off = np.array([0.5, -0.5, 0.0, -0.5, 0.5])  # uncorrelated with t: the axes are the street's
    e1 = 100.0 + t * np.cos(along) + off * np.cos(across)
    n1 = 50.0 + t * np.sin(along) + off * np.sin(across)
    east, north = np.concatenate([e0, e1]) + E0, np.concatenate([n0, n1]) + N0
    return east, north, np.array([0] * 4 + [1] * 5)


def test_focal_points_of_hand_made_cells():
    east, north, labels = _street_cells()
    centroids, minor = principal_axes(east, north, labels, 2)
    np.testing.assert_allclose(centroids[0], [E0 + 6.0, N0], atol=1e-9)
    # the east–west street: minor axis north (east component 0, north made positive)
    np.testing.assert_allclose(minor[0], [0.0, 1.0], atol=1e-12)
    # the 30° street: minor axis across it, signed east-positive: (cos(−60°), sin(−60°))
    np.testing.assert_allclose(minor[1], [0.5, -np.sqrt(3) / 2], atol=1e-9)
    focal = focal_points(centroids, minor, 10.0)
    assert focal.shape == (2, 2, 2)
    np.testing.assert_allclose(focal[0, 0], [E0 + 6.0, N0 + 10.0], atol=1e-9)  # lateral: across the street
    np.testing.assert_allclose(focal[0, 1], [E0 - 4.0, N0], atol=1e-9)  # frontal: R(90°)·(0, 1) = (−1, 0)
    np.testing.assert_allclose(focal[1, 1] - centroids[1], 10.0 * np.array([np.sqrt(3) / 2, 0.5]), atol=1e-9)
    # the paper's definition: the second left-singular vector of the centred positions (2, B)
    for c in range(2):
        rows = labels == c
        centred = np.stack([east[rows], north[rows]]) - centroids[c][:, None]
        u, _, _ = np.linalg.svd(centred, full_matrices=False)
        assert abs(float(u[:, 1] @ minor[c])) == pytest.approx(1.0, abs=1e-9)
        assert abs(float(u[:, 0] @ (focal[c, 1] - centroids[c]))) == pytest.approx(10.0, abs=1e-9)


def test_bearings_are_compass_degrees():
    zero = np.zeros(4)
    got = bearing_deg(zero, zero, np.array([0.0, 1.0, 0.0, -1.0]), np.array([1.0, 0.0, -1.0, 0.0]))
    np.testing.assert_allclose(got, [0.0, 90.0, 180.0, 270.0])


def test_each_panorama_gives_each_view_the_crop_that_faces_its_focal_point():
    east, north, labels = _street_cells()
    # four crops per position of class 0, headings 0, 90, 180, 270 (one also at 359.5: wraps)
    keep = labels == 0
    e = np.repeat(east[keep], 4)
    n = np.repeat(north[keep], 4)
    heading = np.tile([0.0, 90.0, 180.0, 270.0], 4)
    heading[4] = 359.5
    lab = np.zeros(len(e), dtype=np.int64)
    centroids, minor = principal_axes(e, n, lab, 1)
    focal = focal_points(centroids, minor, 10.0)  # lateral (6, 10), frontal (−4, 0) from the origin
    views, error = select_views(e, n, heading, lab, focal, max_error_deg=45.0)
    lateral, frontal = np.flatnonzero(views[0] >= 0), np.flatnonzero(views[1] >= 0)
    assert lateral.tolist() == [0, 4, 8, 12] and set(heading[lateral].tolist()) == {0.0, 359.5}
    assert frontal.tolist() == [3, 7, 11, 15] and set(heading[frontal].tolist()) == {270.0}
    # position (0, 1) sees the lateral focal point at bearing atan2(6, 9) = 33.69°
    assert error[0, 0] == pytest.approx(np.degrees(np.arctan2(6.0, 9.0)))
    # a tighter limit drops the panoramas at the ends of the street (33.7° off) from the lateral view
    views, _ = select_views(e, n, heading, lab, focal, max_error_deg=30.0)
    assert np.flatnonzero(views[0] >= 0).tolist() == [4, 8]
    assert np.flatnonzero(views[1] >= 0).tolist() == [3, 7, 11, 15]


def _reference_classes(east, north, heading, labels, n_classes, focal_dist, max_error):
    """The paper's rules one class and one panorama at a time: SVD of the centred positions, focal
    points at ±0° / 90° from the second singular vector (signed east-positive like vprkit, the
    sign is free), per panorama the crop nearest the bearing to each focal point."""
    out = np.full((2, len(labels)), -1)
    for c in range(n_classes):
        rows = np.flatnonzero(labels == c)
        pos = np.stack([east[rows], north[rows]], axis=1)
        mu = pos.mean(0)
        u, _, _ = np.linalg.svd((pos - mu).T, full_matrices=False)
        d = u[:, 1] if (u[0, 1] > 0 or (u[0, 1] == 0 and u[1, 1] > 0)) else -u[:, 1]
        for v, angle in enumerate((0.0, 90.0)):
            t = np.deg2rad(angle)
            f = mu + focal_dist * np.array([np.cos(t) * d[0] - np.sin(t) * d[1], np.sin(t) * d[0] + np.cos(t) * d[1]])
            panoramas: dict[tuple[float, float], list[int]] = {}
            for r in rows:
                panoramas.setdefault((round(east[r], 2), round(north[r], 2)), []).append(r)
            for members in panoramas.values():
                errors = []
                for r in members:
                    bearing = np.degrees(np.arctan2(f[0] - east[r], f[1] - north[r])) % 360
                    errors.append(abs((heading[r] - bearing + 180) % 360 - 180))
                best = int(np.argmin(errors))
                if errors[best] <= max_error:
                    out[v, members[best]] = c
    return out


def test_classes_match_the_loop_reference_and_form_the_groups():
    rng = np.random.default_rng(3)
    positions = np.stack([rng.uniform(0, 90, 120), rng.uniform(0, 60, 120)], axis=1).round(2)
    east = np.repeat(positions[:, 0], 3) + E0
    north = np.repeat(positions[:, 1], 3) + N0
    heading = np.mod(np.tile([0.0, 120.0, 240.0], 120) + rng.uniform(0, 360, 360).round(1), 360)
    cfg = EigenPlacesPartitionConfig(M=15, N=3, min_images_per_class=3, max_view_error_deg=50)
    cells = create_partitioner("cosplace", cell_partition_config(cfg)).fit(east, north, heading)
    assert cells.num_groups == 9 and cells.config["alpha"] == 360.0
    classes = build_classes(cells, east, north, heading, cfg)

    raw = _reference_classes(east, north, heading, cells.train_labels, cells.num_classes, 10.0, 50.0)
    counts = np.stack([np.bincount(raw[v][raw[v] >= 0], minlength=cells.num_classes) for v in range(2)])
    enough = counts >= 3
    expected = np.where(np.take_along_axis(enough, np.maximum(raw, 0), axis=1), raw, -1)
    np.testing.assert_array_equal(classes.view_labels, expected)
    assert (classes.view_labels[0] >= 0).sum() < len(east)  # a view takes at most one crop per panorama

    kept_groups = [g for g in range(9) if g not in classes.dropped_groups]
    assert len(classes.groups) == len(kept_groups)
    for g, (pair, cell_ids) in zip(kept_groups, zip(classes.groups, classes.group_cells, strict=True), strict=True):
        for v in range(2):
            group, ids = pair[v], cell_ids[v]
            assert np.all(cells.group_of_class[ids] == g) and np.all(enough[v, ids])
            assert group.n_classes == len(ids)
            for j, cell in enumerate(ids):  # local class j holds exactly the view's images of that cell
                members = group.rows[group.offsets[j] : group.offsets[j + 1]]
                assert sorted(members.tolist()) == np.flatnonzero(expected[v] == cell).tolist()
    summary = classes.summary()
    assert summary["groups"] == len(kept_groups) and set(summary["classes"]) == {"lateral", "frontal"}


# ------------------------------------------------------------------------------ trainer
def _images(root, n: int = 16) -> ImageList:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"img_{i:02d}.png")
        paths.append(f"img_{i:02d}.png")
    east = E0 + np.arange(n) * 30.0
    nan = np.full(n, np.nan)
    return ImageList(root, np.array(paths), east, np.full(n, N0), 10, "S", nan, nan, np.zeros(n))


def _trainer(images: ImageList, run_dir, seed_weights: bool = True, **overrides):
    """2 groups × (lateral, frontal) of 2 classes each over 16 images."""
    if seed_weights:
        torch.manual_seed(0)
    labels = np.arange(len(images)) % 8  # class c of view-group c // 2
    views = [group_data_from_labels(np.where(labels // 2 == k, labels % 2, -1), 2) for k in range(4)]
    net = build_descriptor_net("tinycnn", "gem_fc", out_dim=8)
    heads = nn.ModuleList([CosFaceHead(8, 2, s=100.0, m=0.4) for _ in views])
    settings = {
        "epochs": 2,
        "iterations_per_epoch": 4,
        "batch_size": 2,
        "image_size": 16,
        "num_workers": 0,
        "device": "cpu",
        "deterministic": True,
        "validate_every": 0,
    }
    cfg = EigenPlacesTrainingConfig(**{**settings, **overrides})
    data = ImageDataset(images, train_transform(cfg.augmentation, cfg.image_size))
    return net, heads, EigenPlacesTrainer(net, heads, views, data, cfg, run_dir)


def test_each_epoch_steps_the_lateral_and_frontal_heads_of_its_group(tmp_path):
    images = _images(tmp_path)
    _, heads, trainer = _trainer(images, tmp_path / "run", epochs=1)
    before = [h.weight.detach().clone() for h in heads]
    state = trainer.fit()
    changed = [not torch.equal(b, h.weight) for b, h in zip(before, heads, strict=True)]
    assert changed == [True, True, False, False]  # epoch 0 trains group 0: heads 0 (lateral) and 1 (frontal)
    record = state["history"][0]
    assert record["group"] == 0
    assert record["loss"] == pytest.approx(record["lateral_loss"] + record["frontal_loss"], rel=1e-6)

    # λ_front = 0: the frontal head gets a zero gradient and stays where it was
    _, heads0, trainer0 = _trainer(images, tmp_path / "run0", epochs=1, lambda_frontal=0.0)
    start = [h.weight.detach().clone() for h in heads0]
    state0 = trainer0.fit()
    assert not torch.equal(start[0], heads0[0].weight) and torch.equal(start[1], heads0[1].weight)
    assert state0["history"][0]["frontal_loss"] == 0.0


class Crash(RuntimeError):
    pass


def test_resume_after_a_mid_epoch_crash_gives_identical_weights(tmp_path):
    images = _images(tmp_path)
    net_a, heads_a, trainer_a = _trainer(images, tmp_path / "a", checkpoint_every=2)
    trainer_a.fit()

    _, _, trainer_b = _trainer(images, tmp_path / "b", checkpoint_every=2)

    def crash(epoch, iteration):
        if epoch == 1 and iteration == 2:  # after step 3 of epoch 1; the last checkpoint after step 2
            raise Crash()

    trainer_b.on_iteration = crash
    with pytest.raises(Crash):
        trainer_b.fit()
    torch.manual_seed(123)  # a fresh process: another init stream, all of it replaced by the checkpoint
    net_c, heads_c, trainer_c = _trainer(images, tmp_path / "b", checkpoint_every=2)
    state = trainer_c.fit(resume=True)
    assert state["epoch"] == 2 and [r["group"] for r in state["history"]] == [0, 1]
    for a, c in zip(
        [*net_a.state_dict().values(), *heads_a.state_dict().values()],
        [*net_c.state_dict().values(), *heads_c.state_dict().values()],
        strict=True,
    ):
        assert torch.equal(a, c)
    for key in ("loss", "lateral_loss", "frontal_loss"):
        assert state["history"][1][key] == pytest.approx(trainer_a.state["history"][1][key], abs=0)


def _ddp_worker(rank: int, root: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{root}/rendezvous", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        n = 16
        nan = np.full(n, np.nan)
        paths = np.array([f"img_{i:02d}.png" for i in range(n)])
        images = ImageList(Path(root), paths, E0 + np.arange(n) * 30.0, np.full(n, N0), 10, "S", nan, nan, np.zeros(n))
        torch.manual_seed(rank)  # different inits on purpose: DDP must broadcast rank 0's weights
        _, heads, trainer = _trainer(images, f"{root}/run", seed_weights=False)
        trainer.fit()
        params = {k: v.detach().clone() for k, v in trainer.net.named_parameters()}
        params.update({f"head.{k}": v.detach().clone() for k, v in heads.named_parameters()})
        torch.save(params, f"{root}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_replicas_train_both_views_and_stay_identical(tmp_path):
    import torch.multiprocessing as mp

    _images(tmp_path)
    mp.start_processes(_ddp_worker, args=(str(tmp_path),), nprocs=2, join=True, start_method="spawn")
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------------------ pipeline
#: a tiny EigenPlaces on tinycnn, 20 m cells in 2×2 groups, a few CPU steps, no validation
FAST = [
    "backbone=tinycnn",
    "fc_output_dim=16",
    "partition.M=20",
    "partition.N=2",
    "partition.min_images_per_class=2",
    "training.epochs=2",
    "training.iterations_per_epoch=2",
    "training.batch_size=4",
    "training.image_size=32",
    "training.num_workers=0",
    "training.device=cpu",
    "training.validate_every=0",
]


def test_trained_eigenplaces_is_the_second_stage_of_a_dnc_pipeline(synthcity_tiny, tmp_path_factory, tmp_path):
    """Trained on synthcity tiny; D&C's top cells restrict its retrieval to the database rows in
    them, which come out nearest first in EigenPlaces descriptor space; the bundle reloads."""
    from retriever_pipeline import check_behind_dnc

    from vprkit.training.api import train_model

    retriever = train_model("retriever", "eigenplaces", synthcity_tiny, tmp_path / "eigenplaces", overrides=FAST)
    assert isinstance(retriever, EigenPlacesRetriever) and retriever.descriptor_dim == 16
    summary = retriever.training_summary
    assert summary["partition"]["groups"] == 4 and len(summary["history"]) == 2
    assert min(summary["partition"]["images"].values()) > 100  # most of the 172 panoramas in each view
    check_behind_dnc(retriever, synthcity_tiny, tmp_path_factory, tmp_path)
