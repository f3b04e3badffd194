"""Contract checks for vprkit plugins, built-in or third-party.

Every registered method is checked against the protocols of :mod:`vprkit.contracts` by the same
functions, so a plugin package can run in its own tests exactly what vprkit runs on its built-ins::

    from vprkit import testing

    def test_my_retriever(tmp_path):
        testing.check_retriever("mine", tmp_path)

    @testing.parametrize_registered("index")   # every installed index, one test each
    def test_indexes(name, tmp_path):
        testing.check_index(name, tmp_path)

Each ``check_*`` creates the method through the registry with small, offline settings (the
fields of :data:`SMALL_SETTINGS` its config has: ``pretrained=False``, the ``tinycnn``
backbone, a few CPU steps), then raises :class:`AssertionError` naming the method and the broken
promise. A method that needs more (a partition that fits a small city, a smaller codebook) takes
``overrides``: config fields by dotted name, ``{"partition.tau_min": 5}``. A trained model can be
checked instead of a fresh one (``model=``, ``model_dir=``). The checks need no pytest; only
:func:`parametrize_registered` imports it.

What is checked, per kind:

* **partitioner** (:func:`check_partitioner`): ``fit`` on a synthetic city returns a
  :class:`~vprkit.partition.Partition` whose arrays have the documented shapes and dtypes; class
  counts add up; ``assign`` gives the fitted points their ``train_labels``; refitting gives the
  same fingerprint; shuffling the points gives the same classes; save/load keeps the fingerprint
  and the assignments.
* **classifier** (:func:`check_classifier`): descriptors ``(B, d)`` float32; ranked, distinct
  classes of its own partition with descending scores and the partition's coordinates; ``k``
  capped at the class count; save/load (also through the pipeline's loader) keeps the fingerprint
  and the predictions; the fingerprint follows the weights.
* **retriever** (:func:`check_retriever`): ``(B, D)`` float32 unit-norm descriptors; save/load
  keeps descriptors and fingerprint; the fingerprint follows the weights.
* **index** (:func:`check_index`, or one part at a time: :data:`INDEX_CHECKS`): shapes, dtypes,
  best-first order and recall against exact search; ``-1`` / ``-inf`` padding; ``search_rows``
  returns only allowed rows, agrees between a shared row array and per-query copies (and with
  ``search`` for an exact index); save/load round trip; stale fingerprints and changed payloads
  refused; bad input refused; ``add`` numbers rows after the existing ones.
* **reranker** (:func:`check_reranker`): ``extract`` gives keypoints inside the image and
  descriptors of the declared width and dtype, the same twice, no error on a flat image; ``verify``
  returns inliers with matches that index both images, and none against an image without keypoints; ``rerank`` returns a permutation of the
  shortlist with non-increasing scores, ties in retrieval order, the same twice and the same from
  images as from their features; the features survive a :func:`~vprkit.rerank.database_features`
  store round trip; the fingerprint is stable and follows the config.
* **dataset** (:func:`check_dataset`): the spec's splits, counts, protocol and query sets agree;
  the factory's object has ``generate``; ``generate`` either writes the standard layout with the
  counts it returns or (a downloadable dataset) fails with an error that says what to do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from vprkit.geometry.points import RowArrays

if TYPE_CHECKING:
    from vprkit.contracts import Classifier, NearestIndex, Partitioner, Retriever, TrainedModel
    from vprkit.partition import Partition

__all__ = [
    "INDEX_CHECKS",
    "SMALL_SETTINGS",
    "IndexData",
    "SyntheticCity",
    "check_classifier",
    "check_dataset",
    "check_index",
    "check_index_add",
    "check_index_padding",
    "check_index_refusals",
    "check_index_round_trip",
    "check_index_search",
    "check_index_search_rows",
    "check_index_tampering",
    "check_partitioner",
    "check_reranker",
    "check_retriever",
    "has_field",
    "index_data",
    "parametrize_registered",
    "registered",
    "reranker_images",
    "small_config",
    "synthetic_city",
]

#: Settings that make a method small and offline, applied only where its config has the field.
SMALL_SETTINGS: dict[str, Any] = {
    "backbone": "tinycnn",
    "pretrained": False,
    "training.device": "cpu",
    "training.num_workers": 0,
    "training.num_threads": 1,
    "training.image_size": 32,
}

#: UTM origin of :func:`synthetic_city` (zone 10S, as synthcity).
CITY_ORIGIN = (549_000.0, 4_178_000.0)
CITY_ZONE = "10S"


def _require(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)


# ----------------------------------------------------------------------------------- registry
def registered(kind: str, filter: str = "*") -> list[str]:
    """Names of the installed methods of ``kind`` (``"partitioner"``, ... ``"dataset"``)."""
    from vprkit.registry import list_methods

    return list_methods(kind, filter)


def parametrize_registered(kind: str, filter: str = "*", argname: str = "name") -> Any:
    """``pytest.mark.parametrize(argname, registered(kind, filter))``: one test per installed method."""
    import pytest

    return pytest.mark.parametrize(argname, registered(kind, filter))


def has_field(config_cls: Any, dotted: str) -> bool:
    """Whether the pydantic config class has the (dotted) field ``dotted``."""
    cls = config_cls
    for part in dotted.split("."):
        fields = getattr(cls, "model_fields", None)
        if not fields or part not in fields:
            return False
        cls = fields[part].annotation
    return True


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def small_config(kind: str, name: str, overrides: Mapping[str, Any] | None = None) -> Any:
    """The validated config of ``name``: defaults ← :data:`SMALL_SETTINGS` (the fields it has) ←
    ``overrides`` (dotted names)."""
    from vprkit.config import build_config
    from vprkit.registry import get_spec

    config_cls = get_spec(kind, name).config
    chosen = {k: v for k, v in SMALL_SETTINGS.items() if has_field(config_cls, k)}
    chosen.update(overrides or {})
    return build_config(config_cls, {}, _nest(chosen), owner=f"{kind} {name!r}")


# ----------------------------------------------------------------------------------- partitioners
@dataclass(frozen=True)
class SyntheticCity(RowArrays):
    """Training points of a synthetic city: UTM metres (zone :data:`CITY_ZONE`), headings
    (degrees), and per-image feature rows that change smoothly across the map."""

    east: np.ndarray
    north: np.ndarray
    heading: np.ndarray
    features: np.ndarray


def synthetic_city(n: int = 3000, extent_m: float = 400.0, *, seed: int = 0) -> SyntheticCity:
    """``n`` points uniform over an ``extent_m`` square, with headings and 16-D features."""
    rng = np.random.default_rng(seed)
    east = CITY_ORIGIN[0] + rng.uniform(0, extent_m, n)
    north = CITY_ORIGIN[1] + rng.uniform(0, extent_m, n)
    heading = rng.uniform(0, 360, n)
    features = np.column_stack([np.sin(east / 60.0), np.cos(north / 45.0), rng.normal(0, 0.3, (n, 14))])
    return SyntheticCity(east, north, heading, features.astype(np.float32))


def _fit(partitioner: Partitioner, city: SyntheticCity, order: np.ndarray | None = None) -> Partition:
    idx = np.arange(len(city)) if order is None else order
    return partitioner.fit(city.east[idx], city.north[idx], city.heading[idx], city.features[idx], utm_zone=CITY_ZONE)


def check_partitioner(
    name: str, tmp_dir: str | Path, *, overrides: Mapping[str, Any] | None = None, city: SyntheticCity | None = None
) -> Partition:
    """Check partitioner ``name`` fitted on ``city`` (default :func:`synthetic_city`); returns the Partition."""
    from vprkit.contracts import Partitioner
    from vprkit.partition import Partition
    from vprkit.registry import create_partitioner

    who = f"partitioner {name!r}"
    city = city or synthetic_city()
    n = len(city)
    config = small_config("partitioner", name, overrides)
    partitioner = create_partitioner(name, config)
    _require(isinstance(partitioner, Partitioner), f"{who}: the factory's object lacks name, config or fit")
    part = _fit(partitioner, city)
    _require(isinstance(part, Partition), f"{who}: fit returned {type(part).__name__}, not a Partition")
    c = part.num_classes
    _require(c >= 2, f"{who}: {c} classes on {n} points over the test city; pass overrides that fit a small city")

    # arrays: shapes, dtypes, ranges
    labels = np.asarray(part.train_labels)
    _require(
        labels.shape == (n,) and np.issubdtype(labels.dtype, np.integer),
        f"{who}: train_labels has shape {labels.shape} / dtype {labels.dtype}, expected ({n},) integers",
    )
    _require(((labels >= -1) & (labels < c)).all(), f"{who}: train_labels outside [-1, {c})")
    kept = labels >= 0
    _require(kept.any(), f"{who}: every training point was dropped")
    counts = np.bincount(labels[kept], minlength=c)
    _require(
        np.array_equal(np.asarray(part.class_counts), counts),
        f"{who}: class_counts differ from the counts of train_labels",
    )
    _require(
        int(kept.sum()) + part.dropped == n,
        f"{who}: {int(kept.sum())} kept + {part.dropped} dropped (dropped_by_reason) != {n} points",
    )
    coords = np.asarray(part.class_coords)
    _require(
        coords.shape == (c, 2) and coords.dtype == np.float64 and np.isfinite(coords).all(),
        f"{who}: class_coords must be ({c}, 2) finite float64, got {coords.shape} {coords.dtype}",
    )
    groups = np.asarray(part.group_of_class)
    _require(
        part.num_groups >= 1 and ((groups >= 0) & (groups < part.num_groups)).all(),
        f"{who}: group_of_class outside [0, num_groups={part.num_groups})",
    )

    # assign is the pipeline's contract: the fitted points get their train_labels
    assigned, assigned_groups = part.assign(city.east, city.north, city.heading)
    _require(assigned.shape == (n,) and assigned_groups.shape == (n,), f"{who}: assign returned the wrong shapes")
    _require(
        np.array_equal(assigned[kept], labels[kept]), f"{who}: assign disagrees with train_labels on fitted points"
    )
    _require(
        np.array_equal(assigned_groups[kept], groups[labels[kept]]),
        f"{who}: assign's groups are not group_of_class of its labels",
    )
    far_labels, far_groups = part.assign(city.east[:2] + 2e4, city.north[:2] + 2e4, city.heading[:2])
    _require(
        (far_labels == -1).all() and (far_groups == -1).all(),
        f"{who}: points 20 km outside the fitted area are assigned a class (expected -1)",
    )

    # deterministic; classes do not depend on the order of the points
    again = _fit(create_partitioner(name, config), city)
    _require(again.fingerprint() == part.fingerprint(), f"{who}: two fits of the same points differ")
    perm = np.random.default_rng(7).permutation(n)
    shuffled = _fit(create_partitioner(name, config), city, perm)
    _require(
        np.array_equal(np.asarray(shuffled.class_keys), np.asarray(part.class_keys)),
        f"{who}: the classes depend on the order of the training points",
    )
    _require(
        np.array_equal(np.asarray(shuffled.train_labels), labels[perm]), f"{who}: shuffled points get other labels"
    )
    np.testing.assert_allclose(
        shuffled.class_coords, coords, atol=1e-6, err_msg=f"{who}: class coordinates depend on the order of the points"
    )

    # save / load
    path = part.save(Path(tmp_dir) / f"{name}.npz")
    loaded = Partition.load(path)
    _require(loaded.fingerprint() == part.fingerprint(), f"{who}: fingerprint changed through save/load")
    _require(
        np.array_equal(loaded.assign(city.east, city.north, city.heading)[0], assigned),
        f"{who}: a loaded partition assigns points differently",
    )
    _require(loaded.summary() == part.summary(), f"{who}: summary changed through save/load")
    _require(list(loaded.children) == list(part.children), f"{who}: child partitions lost through save/load")
    return part


# ----------------------------------------------------------------------------------- trained models
def _torch_modules(model: TrainedModel) -> list[Any]:
    from torch import nn

    return [v for v in vars(model).values() if isinstance(v, nn.Module)]


def _check_fingerprint_follows_weights(model: TrainedModel, who: str) -> None:
    import torch

    before = model.fingerprint()
    modules = _torch_modules(model)
    _require(modules, f"{who}: the model object holds no torch module")
    params = [p for m in modules for p in m.parameters()]
    _require(params, f"{who}: the model's modules have no parameters")
    with torch.no_grad():
        params[0].add_(0.01)
    _require(model.fingerprint() != before, f"{who}: changing a weight leaves the fingerprint unchanged")


def _checked_descriptors(
    model: TrainedModel, method: str, images: Any, dataset: str | Path | None, who: str
) -> tuple[Any, Any]:
    """``images`` (default: :func:`_sample_images`) and their descriptors by ``model.<method>``,
    checked to be finite float32 ``(B, descriptor_dim)``."""
    import torch

    if images is None:
        images = _sample_images(model, dataset=dataset)
    b, dim = len(images), model.descriptor_dim
    desc = getattr(model, method)(images)
    _require(
        isinstance(desc, torch.Tensor) and desc.dtype == torch.float32 and tuple(desc.shape) == (b, dim),
        f"{who}: {method} gives {getattr(desc, 'shape', None)} {getattr(desc, 'dtype', None)}, "
        f"expected ({b}, {dim}) float32",
    )
    _require(torch.isfinite(desc).all(), f"{who}: descriptors are not finite")
    return images, desc


def _sample_images(
    model: TrainedModel,
    n: int = 3,
    size: int = 32,
    *,
    dataset: str | Path | None = None,
    split: str = "val/queries",
    seed: int = 0,
) -> Any:
    """``(n, 3, H, W)`` through ``model.transform``: images of ``dataset``'s ``split``, else random ones."""
    import torch
    from PIL import Image

    if dataset is not None:
        from vprkit.data.standard import load_split

        images = load_split(dataset, split)
        pil = []
        for p in images.paths.tolist()[:n]:
            with Image.open(Path(images.root) / p) as im:
                pil.append(im.convert("RGB"))
    else:
        rng = np.random.default_rng(seed)
        pil = [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]
    out = torch.stack([model.transform(im) for im in pil])
    _require(
        out.dtype == torch.float32 and out.ndim == 4 and out.shape[1] == 3,
        f"model.transform gives {tuple(out.shape[1:])} {out.dtype} tensors, expected (3, H, W) float32",
    )
    return out


def _load_checks(kind: str, name: str, model: TrainedModel, model_dir: Path, who: str) -> TrainedModel:
    from vprkit.pipeline.models import load_model

    loaded = type(model).load(model_dir)
    _require(loaded.fingerprint() == model.fingerprint(), f"{who}: fingerprint changed through save/load")
    via_pipeline = load_model(model_dir, kind)
    _require(type(via_pipeline) is type(model), f"{who}: the pipeline's loader made a {type(via_pipeline).__name__}")
    _require(via_pipeline.fingerprint() == model.fingerprint(), f"{who}: the pipeline's loader changed the fingerprint")
    return loaded


def _fresh_classifier(name: str, config: Any, dataset: str | Path | None) -> tuple[Classifier, Any]:
    """An untrained classifier of ``name`` and the training points of its partition."""
    from vprkit.registry import create_classifier, create_partitioner, get_classifier_spec

    spec = get_classifier_spec(name)
    _require(spec.partitioner, f"classifier {name!r}: its spec names no partitioner; pass model=")
    part_config = getattr(config, "partition", None)
    if dataset is not None:
        from vprkit.data.standard import load_split

        train = load_split(dataset, "train")
        zone = (train.zone_number, train.zone_letter) if train.zone_number else None
        points = (train.east, train.north, train.heading)
        partition = create_partitioner(spec.partitioner, part_config).fit(*points, utm_zone=zone)
    else:
        city = synthetic_city()
        points = (city.east, city.north, city.heading)
        partition = _fit(create_partitioner(spec.partitioner, part_config), city)
    model = create_classifier(name, config)
    build = getattr(model, "build", None)  # TrainedClassifier's; not part of the Classifier protocol
    _require(callable(build), f"classifier {name!r}: an untrained model has no build(partition); pass a trained model=")
    assert build is not None
    return build(partition), points


def check_classifier(
    name: str,
    tmp_dir: str | Path,
    *,
    model: Classifier | None = None,
    model_dir: str | Path | None = None,
    dataset: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    images: Any = None,
) -> Classifier:
    """Check classifier ``name``: ``model`` (saved in ``model_dir``) or an untrained one built on its
    partitioner's partition of ``dataset``'s train split (or of :func:`synthetic_city`).

    ``images`` are ``(B, 3, H, W)`` inputs; default: three of ``dataset``'s val queries, or random
    images, through ``model.transform``. Returns the model.
    """

    from vprkit.contracts import Classifier
    from vprkit.models.interfaces import ClassPrediction

    who = f"classifier {name!r}"
    if model is None:
        model, points = _fresh_classifier(name, small_config("classifier", name, overrides), dataset)
    elif dataset is not None:
        from vprkit.data.standard import load_split

        train = load_split(dataset, "train")
        points = (train.east, train.north, train.heading)
    else:
        points = None
    _require(
        isinstance(model, Classifier),
        f"{who}: {type(model).__name__} does not have what "
        "vprkit.contracts.Classifier declares (name, config, transform, training_summary, partition, "
        "descriptor_dim, descriptor, classify_descriptors, to, fingerprint, save, load)",
    )
    part = model.partition
    c = part.num_classes
    _require(c > 1, f"{who}: its partition has {c} classes")
    if points is not None:  # the classes it ranks are the classes partition.assign gives points
        labels, _ = part.assign(*points)
        kept = part.train_labels >= 0
        _require(
            np.array_equal(labels[kept], part.train_labels[kept]),
            f"{who}: partition.assign disagrees with the partition's train_labels",
        )

    images, desc = _checked_descriptors(model, "descriptor", images, dataset, who)
    b = len(images)
    k = min(5, c)
    pred = model.classify_descriptors(desc, k)
    _require(isinstance(pred, ClassPrediction), f"{who}: classify_descriptors returned {type(pred).__name__}")
    _require(
        pred.classes.shape == (b, k) and pred.classes.dtype == np.int64,
        f"{who}: classes are {pred.classes.shape} {pred.classes.dtype}, expected ({b}, {k}) int64",
    )
    _require(
        pred.scores.shape == (b, k) and pred.scores.dtype == np.float32,
        f"{who}: scores are {pred.scores.shape} {pred.scores.dtype}, expected ({b}, {k}) float32",
    )
    _require(pred.coords.shape == (b, k, 2) and pred.confidence.shape == (b,), f"{who}: coords / confidence shapes")
    _require(np.all((pred.classes >= 0) & (pred.classes < c)), f"{who}: a class outside [0, {c})")
    _require(all(len(set(row)) == k for row in pred.classes.tolist()), f"{who}: a class ranked twice for one query")
    _require(np.all(np.diff(pred.scores, axis=1) <= 0), f"{who}: scores are not best first")
    _require(
        np.array_equal(pred.coords, part.class_coords[pred.classes]),
        f"{who}: coords are not the partition's class_coords of the ranked classes",
    )
    _require(
        model.classify_descriptors(desc, c + 10).classes.shape == (b, c),
        f"{who}: k larger than the number of classes is not capped at {c}",
    )
    classify = getattr(model, "classify", None)  # optional: descriptor + classify_descriptors in one call
    if callable(classify):
        whole = classify(images, k)
        _require(np.array_equal(whole.classes, pred.classes), f"{who}: classify != classify_descriptors(descriptor)")

    if model_dir is None:
        model_dir = model.save(Path(tmp_dir) / f"classifier-{name}")
    loaded = cast("Classifier", _load_checks("classifier", name, model, Path(model_dir), who))
    again = loaded.classify_descriptors(loaded.descriptor(images), k)
    _require(np.array_equal(again.classes, pred.classes), f"{who}: a loaded model ranks other classes")
    np.testing.assert_allclose(
        again.scores, pred.scores, rtol=1e-6, atol=1e-6, err_msg=f"{who}: a loaded model gives other scores"
    )
    np.testing.assert_array_equal(
        np.isnan(again.confidence), np.isnan(pred.confidence), err_msg=f"{who}: a loaded model's confidence differs"
    )
    _check_fingerprint_follows_weights(loaded, who)
    return model


def check_retriever(
    name: str,
    tmp_dir: str | Path,
    *,
    model: Retriever | None = None,
    model_dir: str | Path | None = None,
    dataset: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    images: Any = None,
) -> Retriever:
    """Check retriever ``name``: ``model`` (saved in ``model_dir``) or an untrained one with small
    settings; ``images`` as in :func:`check_classifier`. Returns the model."""
    import torch

    from vprkit.contracts import Retriever
    from vprkit.registry import create_retriever

    who = f"retriever {name!r}"
    if model is None:
        model = create_retriever(name, small_config("retriever", name, overrides))
    _require(
        isinstance(model, Retriever),
        f"{who}: {type(model).__name__} does not have what "
        "vprkit.contracts.Retriever declares (name, config, transform, training_summary, descriptor_dim, "
        "encode, to, fingerprint, save, load)",
    )
    images, desc = _checked_descriptors(model, "encode", images, dataset, who)
    b = len(images)
    _require(torch.allclose(desc.norm(dim=1), torch.ones(b), atol=1e-5), f"{who}: descriptors are not L2-normalised")

    if model_dir is None:
        model_dir = model.save(Path(tmp_dir) / f"retriever-{name}")
    loaded = cast("Retriever", _load_checks("retriever", name, model, Path(model_dir), who))
    _require(torch.allclose(loaded.encode(images), desc, atol=1e-6), f"{who}: a loaded model encodes differently")
    _check_fingerprint_follows_weights(loaded, who)
    return model


# ----------------------------------------------------------------------------------- re-rankers
def reranker_images(n: int = 4, size: int = 96, *, seed: int = 0) -> list[Any]:
    """``n`` textured RGB PIL images of ``size`` pixels (random blocks, bilinear-smoothed): image 0
    is the query, image 1 an exact copy of it, image 2 the query shifted by a few pixels, the rest
    other scenes."""
    from PIL import Image

    rng = np.random.default_rng(seed)

    def scene() -> np.ndarray:
        return np.asarray(
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).resize(
                (size + 8, size + 8), Image.Resampling.BILINEAR
            )
        )

    base = scene()
    arrays = [base[:size, :size], base[:size, :size].copy(), base[5 : 5 + size, 3 : 3 + size]]
    arrays += [scene()[:size, :size] for _ in range(max(n - 3, 0))]
    return [Image.fromarray(np.ascontiguousarray(a)) for a in arrays[:n]]


def check_reranker(
    name: str,
    tmp_dir: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    images: Any = None,
) -> Any:
    """Check re-ranker ``name`` (small offline settings: ``pretrained=False``) on ``images``
    (default :func:`reranker_images`: the first is the query). Returns the re-ranker."""
    from PIL import Image

    from vprkit.contracts import LocalFeatures, RerankCandidates, Reranked, Reranker, Verification
    from vprkit.data.image_list import ImageList
    from vprkit.registry import create_reranker

    who = f"reranker {name!r}"
    config = small_config("reranker", name, overrides)
    reranker = create_reranker(name, config)
    _require(
        isinstance(reranker, Reranker),
        f"{who}: {type(reranker).__name__} does not have what vprkit.contracts.Reranker declares "
        "(name, config, fingerprint, extract, verify, rerank)",
    )
    images = list(images) if images is not None else reranker_images()
    _require(len(images) >= 3, f"{who}: the check needs at least 3 images")
    dim, dtype = getattr(reranker, "descriptor_dim", 0), getattr(reranker, "descriptor_dtype", None)

    feats = [reranker.extract(img) for img in images]
    for i, (img, f) in enumerate(zip(images, feats)):
        _require(isinstance(f, LocalFeatures), f"{who}: extract returned {type(f).__name__}, not LocalFeatures")
        n = len(f)
        _require(
            f.keypoints.shape == (n, 2) and f.keypoints.dtype == np.float32, f"{who}: keypoints not (n, 2) float32"
        )
        _require(
            f.descriptors.ndim == 2 and f.descriptors.shape[0] == n, f"{who}: descriptors not one row per keypoint"
        )
        if dim:
            _require(
                f.descriptors.shape[1] == dim,
                f"{who}: descriptors have {f.descriptors.shape[1]} columns, declares {dim}",
            )
        if dtype:
            _require(
                str(f.descriptors.dtype) == dtype, f"{who}: descriptors are {f.descriptors.dtype}, declares {dtype}"
            )
        w, h = img.size
        inside = (
            (f.keypoints >= -0.5).all()
            and (f.keypoints[:, 0] <= w - 0.5).all()
            and (f.keypoints[:, 1] <= h - 0.5).all()
        )
        _require(bool(inside), f"{who}: keypoints of image {i} lie outside its {w}×{h} pixels")
        _require(
            f.image_size in (None, (w, h)),
            f"{who}: image {i} is {w}×{h} pixels but its features say image_size={f.image_size}",
        )
    _require(len(feats[0]) > 0, f"{who}: no keypoints on a textured image")
    again = reranker.extract(images[0])
    _require(
        np.array_equal(again.keypoints, feats[0].keypoints) and np.array_equal(again.descriptors, feats[0].descriptors),
        f"{who}: extract is not deterministic",
    )
    reranker.extract(Image.new("RGB", images[0].size, (128, 128, 128)))  # a flat image is no error
    flat = LocalFeatures(
        np.zeros((0, 2), np.float32), np.zeros((0, dim or feats[0].descriptors.shape[1]), feats[0].descriptors.dtype)
    )

    check = reranker.verify(feats[0], feats[1])
    _require(isinstance(check, Verification), f"{who}: verify returned {type(check).__name__}")
    _require(check.inliers >= 0 and check.matches.shape == (check.inliers, 2), f"{who}: inliers and matches disagree")
    if check.inliers:
        _require(
            (check.matches[:, 0] < len(feats[0])).all() and (check.matches[:, 1] < len(feats[1])).all(),
            f"{who}: matches index keypoints that do not exist",
        )
    none = reranker.verify(feats[0], flat)
    _require(none.inliers == 0, f"{who}: inliers against an image without keypoints")

    rows = np.arange(100, 100 + len(images) - 1, dtype=np.int64)[::-1].copy()
    scores = np.linspace(0.9, 0.5, len(rows)).astype(np.float32)
    by_image = reranker.rerank(images[0], RerankCandidates(rows, scores, images=images[1:]))
    _require(isinstance(by_image, Reranked), f"{who}: rerank returned {type(by_image).__name__}")
    k = len(rows)
    _require(sorted(by_image.order.tolist()) == list(range(k)), f"{who}: rerank's order is not a permutation")
    _require(np.array_equal(by_image.rows, rows[by_image.order]), f"{who}: rows do not follow the order")
    _require(
        np.array_equal(by_image.retrieval_scores, scores[by_image.order]), f"{who}: retrieval scores do not follow"
    )
    _require(bool((np.diff(by_image.scores) <= 0).all()), f"{who}: scores are not best first")
    _require(len(by_image.matches) == k and len(by_image.candidates) == k, f"{who}: evidence for each candidate")
    ties = by_image.scores[1:] == by_image.scores[:-1]
    _require(
        bool((by_image.order[1:][ties] > by_image.order[:-1][ties]).all()), f"{who}: ties lost their retrieval order"
    )
    twice = reranker.rerank(images[0], RerankCandidates(rows, scores, images=images[1:]), threads=2)
    _require(np.array_equal(twice.order, by_image.order), f"{who}: rerank is not deterministic (threads=2)")
    by_feats = reranker.rerank(feats[0], RerankCandidates(rows, scores, features=feats[1:]))
    _require(np.array_equal(by_feats.order, by_image.order), f"{who}: features and images rank differently")
    _require(np.array_equal(by_feats.inliers, by_image.inliers), f"{who}: features and images verify differently")

    # the local-feature store keeps the features exactly
    from vprkit.rerank.store import database_features

    folder = Path(tmp_dir) / f"reranker-{name}"
    (folder / "db").mkdir(parents=True, exist_ok=True)
    names = [f"{i:03d}.png" for i in range(len(images))]
    for img, fname in zip(images, names):
        img.save(folder / "db" / fname)
    z = np.zeros(len(names))
    db = ImageList(folder / "db", np.array(names), z, z, 10, "S", z, z, z)
    store = database_features(reranker, db, cache=folder / "cache", shard_images=2)
    for i, f in enumerate(feats):
        got = store[i]
        _require(
            np.array_equal(got.keypoints, f.keypoints) and np.array_equal(got.descriptors, f.descriptors),
            f"{who}: the feature store changes the features of image {i}",
        )
    again_store = database_features(reranker, db, cache=folder / "cache")
    _require(again_store.root == store.root, f"{who}: the feature store is not reused")

    second = create_reranker(name, config)
    _require(second.fingerprint() == reranker.fingerprint(), f"{who}: fingerprint differs between two creations")
    fields = type(config).model_fields
    for field_name in ("ratio", "filter_threshold", "ransac_threshold"):
        if field_name in fields:
            other = create_reranker(name, config.model_copy(update={field_name: getattr(config, field_name) * 0.5}))
            _require(other.fingerprint() != reranker.fingerprint(), f"{who}: fingerprint ignores {field_name}")
            break
    return reranker


# ----------------------------------------------------------------------------------- indexes
@dataclass(frozen=True)
class IndexData:
    """Clustered unit descriptors for index checks: ``x`` (n, dim), their ``cells`` (n,), unit
    ``queries`` near database rows, and the ``fingerprint`` the index is built with."""

    x: np.ndarray
    cells: np.ndarray
    queries: np.ndarray
    fingerprint: Any


def index_data(n: int = 3000, dim: int = 64, n_cells: int = 100, n_queries: int = 25, *, seed: int = 5) -> IndexData:
    """``n`` L2-normalised float32 rows around ``n_cells`` random centres, and queries near them."""
    from vprkit.index import IndexFingerprint

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_cells, dim)).astype(np.float32)
    cells = rng.integers(0, n_cells, n).astype(np.int64)
    x = centres[cells] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.integers(0, n, n_queries)] + 0.3 * rng.standard_normal((n_queries, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    fingerprint = IndexFingerprint.of("model-a", (f"db/{i:05d}.jpg" for i in range(n)))
    return IndexData(x.astype(np.float32), cells, q.astype(np.float32), fingerprint)


def _exact_topk(queries: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ x.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _who(index: NearestIndex) -> str:
    return f"index {getattr(index, 'name', type(index).__name__)!r}"


def check_index_search(index: NearestIndex, data: IndexData, *, k: int = 10, min_recall: float = 0.6) -> None:
    """Shapes, dtypes, best-first order, recall@k against exact search, a single query."""
    who, x, queries = _who(index), data.x, data.queries
    _require(
        index.ntotal == len(x) and index.dim == x.shape[1],
        f"{who}: ntotal {index.ntotal} / dim {index.dim}, expected {len(x)} / {x.shape[1]}",
    )
    scores, rows = index.search(queries, k)
    _require(
        scores.shape == rows.shape == (len(queries), k),
        f"{who}: search gives {scores.shape} / {rows.shape}, expected ({len(queries)}, {k})",
    )
    _require(
        scores.dtype == np.float32 and rows.dtype == np.int64,
        f"{who}: search gives {scores.dtype} scores / {rows.dtype} rows, expected float32 / int64",
    )
    _require((np.diff(scores, axis=1) <= 1e-6).all(), f"{who}: search results are not best first")
    exact = _exact_topk(queries, x, k)
    recall = float(np.mean([len(set(rows[i]) & set(exact[i])) / k for i in range(len(queries))]))
    _require(recall >= min_recall, f"{who}: recall@{k} against exact search is {recall:.2f} < {min_recall}")
    _, one = index.search(queries[0], k)
    _require(one.shape == (1, k), f"{who}: a single (d,) query is not a batch of one")


def check_index_padding(index: NearestIndex, data: IndexData) -> None:
    """``k`` beyond the database: rows ``-1`` and scores ``-inf`` after the last real row."""
    who, n = _who(index), index.ntotal
    scores, rows = index.search(data.queries[:2], n + 5)
    _require(rows.shape == (2, n + 5), f"{who}: k > ntotal gives shape {rows.shape}, expected (2, {n + 5})")
    _require(
        (rows[:, n:] == -1).all() and np.isneginf(scores[:, n:]).all(),
        f"{who}: k > ntotal is not padded with row -1 and score -inf",
    )


def _same_topk(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], atol: float = 1e-5) -> bool:
    """Equal scores, and equal rows wherever a score is not tied with a neighbour."""
    (sa, ra), (sb, rb) = a, b
    finite = np.isfinite(sb)
    if sa.shape != sb.shape or not np.array_equal(np.isfinite(sa), finite):
        return False
    if not np.allclose(sa[finite], sb[finite], atol=atol):
        return False
    gaps = np.abs(np.diff(np.where(finite, sb, -1e9), axis=1)) > atol
    untied = np.ones_like(rb, dtype=bool)
    untied[:, 1:] &= gaps
    untied[:, :-1] &= gaps
    return bool((ra[untied] == rb[untied]).all())


def check_index_search_rows(index: NearestIndex, data: IndexData, *, k: int = 10, exact: bool = False) -> None:
    """Restricted search: only allowed rows, no duplicates, ``-inf`` where ``-1``; a shared row array
    and per-query copies of it agree; all rows agree with ``search`` when ``exact``; empty and
    out-of-range rows."""
    from vprkit.errors import DataError

    who, x, cells, queries = _who(index), data.x, data.cells, data.queries
    n_cells = int(cells.max()) + 1
    allowed = [
        np.flatnonzero(np.isin(cells, [i % n_cells, (i + 1) % n_cells, (i + 2) % n_cells])) for i in range(len(queries))
    ]
    scores, rows = index.search_rows(queries, allowed, k)
    _require(scores.shape == rows.shape == (len(queries), k), f"{who}: search_rows gives shape {rows.shape}")
    _require(
        scores.dtype == np.float32 and rows.dtype == np.int64,
        f"{who}: search_rows dtypes {scores.dtype} / {rows.dtype}",
    )
    for i in range(len(queries)):
        hits = rows[i][rows[i] >= 0]
        _require(np.isin(hits, allowed[i]).all(), f"{who}: search_rows returned a row outside the allowed ones")
        _require(len(set(hits.tolist())) == len(hits), f"{who}: search_rows returned a row twice")
        _require(np.array_equal(np.isneginf(scores[i]), rows[i] < 0), f"{who}: search_rows pads rows -1 without -inf")
        _require((np.diff(scores[i]) <= 1e-6).all(), f"{who}: search_rows results are not best first")
    shared = np.arange(0, len(x), 7)
    together = index.search_rows(queries, shared, k)
    _require(np.isin(together[1][together[1] >= 0], shared).all(), f"{who}: a shared row array is not respected")
    per_query = index.search_rows(queries, [shared] * len(queries), k)
    _require(_same_topk(together, per_query), f"{who}: one shared row array and per-query copies of it disagree")
    if exact:
        everything = index.search_rows(queries, np.arange(len(x)), k)
        _require(
            _same_topk(everything, index.search(queries, k)),
            f"{who}: search_rows over every row disagrees with search (an exact index)",
        )
    _, none = index.search_rows(queries[:1], np.zeros(0, np.int64), k)
    _require((none == -1).all(), f"{who}: search_rows over no rows returned rows")
    try:
        index.search_rows(queries[:1], [len(x)], k)
    except DataError as exc:
        _require("range" in str(exc), f"{who}: an out-of-range row is refused without saying so: {exc}")
    else:
        raise AssertionError(f"{who}: search_rows accepted row {len(x)} of a {len(x)}-row index")


def check_index_round_trip(index: NearestIndex, data: IndexData, tmp_dir: str | Path, *, k: int = 10) -> None:
    """save → ``load_index`` with the fingerprint: same type, size, fingerprint, config and results;
    another model or database image list is refused."""
    from vprkit.index import IndexFingerprint, StaleIndexError, load_index

    who, fp = _who(index), data.fingerprint
    folder = index.save(Path(tmp_dir) / f"index-{index.name}")
    loaded = load_index(folder, fp)
    _require(type(loaded) is type(index), f"{who}: loads as a {type(loaded).__name__}")
    _require(
        loaded.ntotal == index.ntotal and loaded.fingerprint == fp, f"{who}: size or fingerprint lost in save/load"
    )
    _require(loaded.config == index.config, f"{who}: config changed through save/load")
    _require(
        np.array_equal(loaded.search(data.queries, k)[1], index.search(data.queries, k)[1]),
        f"{who}: a loaded index returns other rows",
    )
    for other, what in (
        (IndexFingerprint("model-b", fp.database), "descriptor model"),
        (IndexFingerprint.of(fp.model, ["other.jpg"]), "database image list"),
    ):
        try:
            load_index(folder, other)
        except StaleIndexError as exc:
            _require(what in str(exc), f"{who}: a stale {what} is refused without saying so: {exc}")
        else:
            raise AssertionError(f"{who}: loaded for another {what}")


def check_index_tampering(index: NearestIndex, data: IndexData, tmp_dir: str | Path) -> None:
    """A payload changed in place (one byte, same size) is refused on load."""
    from vprkit.index import StaleIndexError, load_index

    who = _who(index)
    folder = index.save(Path(tmp_dir) / f"index-{index.name}-tampered")
    payload = max((p for p in folder.iterdir() if p.name != "index.json"), key=lambda p: p.stat().st_size)
    raw = bytearray(payload.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    payload.write_bytes(bytes(raw))
    try:
        load_index(folder, data.fingerprint)
    except StaleIndexError as exc:
        _require("content changed" in str(exc), f"{who}: a changed payload is refused without saying so: {exc}")
    else:
        raise AssertionError(f"{who}: loaded a payload changed in place")


def check_index_refusals(make: Callable[[], Any], index: NearestIndex, data: IndexData, *, k: int = 10) -> None:
    """Memory reported; wrong dimension, ``k < 1``, unnormalised rows and an empty index refused."""
    from vprkit.errors import DataError

    who = _who(index)
    _require(index.memory_bytes() > 0, f"{who}: memory_bytes() is not positive")
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("dimension", lambda: index.search(data.queries[:, :10], k)),
        ("k must be", lambda: index.search(data.queries, 0)),
        ("L2-normalised", lambda: make().build(data.x * 3)),
        ("empty", lambda: make().search(data.queries, k)),
    ]
    for words, call in cases:
        try:
            call()
        except DataError as exc:
            _require(words in str(exc), f"{who}: refused, but the message lacks {words!r}: {exc}")
        else:
            raise AssertionError(f"{who}: accepted input it must refuse ({words})")


def check_index_add(make: Callable[[], Any], data: IndexData) -> None:
    """``add`` appends rows numbered after the existing ones."""
    x = data.x
    split = (2 * len(x)) // 3
    index = make().build(x[:split])
    index.add(x[split:])
    who = _who(index)
    _require(index.ntotal == len(x), f"{who}: ntotal {index.ntotal} after add, expected {len(x)}")
    probe = (split + len(x)) // 2
    _, rows = index.search(x[probe : probe + 1], 1)
    _require(rows[0, 0] == probe, f"{who}: an added row is found as row {rows[0, 0]}, expected {probe}")


#: The parts of :func:`check_index`, by name (a test can parametrise over them).
INDEX_CHECKS = ("search", "padding", "search_rows", "round_trip", "tampering", "refusals", "add")


def check_index(
    name: str,
    tmp_dir: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    make: Callable[[], NearestIndex] | None = None,
    exact: bool = False,
    min_recall: float | None = None,
    data: IndexData | None = None,
    built: NearestIndex | None = None,
    only: tuple[str, ...] = INDEX_CHECKS,
) -> NearestIndex:
    """Check index ``name`` (made by ``make()``, default ``create_index(name, small config)``) built
    on ``data`` (default :func:`index_data`); ``exact`` indexes must reach recall 1 and agree with
    themselves under ``search_rows``. ``only`` picks parts of :data:`INDEX_CHECKS`; ``built``
    reuses an index already built on ``data``. Returns the built index."""
    from vprkit.contracts import NearestIndex
    from vprkit.registry import create_index

    unknown = set(only) - set(INDEX_CHECKS)
    if unknown:
        raise ValueError(f"unknown index checks {sorted(unknown)}; known: {INDEX_CHECKS}")
    if make is None:
        config = small_config("index", name, overrides)

        def make() -> NearestIndex:
            return create_index(name, config)

    data = data or index_data()
    fresh = make()
    _require(
        isinstance(fresh, NearestIndex),
        f"index {name!r}: {type(fresh).__name__} does not have what "
        "vprkit.contracts.NearestIndex declares (name, dim, fingerprint, ntotal, build, search, "
        "search_rows, memory_bytes, save)",
    )
    index = built if built is not None else fresh.build(data.x, fingerprint=data.fingerprint)
    recall = 1.0 if exact else (0.6 if min_recall is None else min_recall)
    tmp = Path(tmp_dir)
    steps: dict[str, Callable[[], None]] = {
        "search": lambda: check_index_search(index, data, min_recall=recall),
        "padding": lambda: check_index_padding(index, data),
        "search_rows": lambda: check_index_search_rows(index, data, exact=exact),
        "round_trip": lambda: check_index_round_trip(index, data, tmp),
        "tampering": lambda: check_index_tampering(index, data, tmp),
        "refusals": lambda: check_index_refusals(make, index, data),
        "add": lambda: check_index_add(make, data) if callable(getattr(fresh, "add", None)) else None,
    }
    for part in only:
        steps[part]()
    return index


# ----------------------------------------------------------------------------------- datasets
def check_dataset(name: str, tmp_dir: str | Path, *, overrides: Mapping[str, Any] | None = None) -> Any:
    """Check dataset ``name``: its spec, its factory's object and ``generate(tmp_dir/name)``.

    A dataset that generates (synthcity) must write the splits it returns counts for, each
    readable with those counts; one that cannot (downloaded datasets) must raise a vprkit error
    naming it (and ``vprkit datasets prepare`` when it has a prepare step) and write nothing.
    Returns the image count per split written (generate's counts, or those found on disk when
    generate returns ``None``), or ``None`` for a dataset that cannot be generated.
    """
    from vprkit.contracts import DatasetProvider
    from vprkit.data.show import describe_folder, describe_spec
    from vprkit.errors import VprkitError
    from vprkit.registry import create_dataset, get_dataset_spec
    from vprkit.specs import DatasetSpec

    who = f"dataset {name!r}"
    spec = get_dataset_spec(name)
    _require(isinstance(spec, DatasetSpec), f"{who}: its spec is a {type(spec).__name__}")
    _require(spec.description.strip(), f"{who}: no description")
    _require(spec.splits, f"{who}: the spec lists no splits")
    for split, folder in spec.splits.items():
        p = Path(folder)
        _require(
            not p.is_absolute() and ".." not in p.parts, f"{who}: split {split!r} folder {folder!r} is not relative"
        )
    unknown = set(spec.expected_counts) - set(spec.splits)
    _require(not unknown, f"{who}: expected_counts for splits it does not list: {sorted(unknown)}")
    _require(
        all(isinstance(v, int) and v > 0 for v in spec.expected_counts.values()),
        f"{who}: expected_counts must be positive integers",
    )
    _require(
        math.isfinite(spec.protocol.radius_m) and spec.protocol.radius_m > 0,
        f"{who}: protocol radius {spec.protocol.radius_m} m",
    )
    missing = set(spec.protocol.paper_query_sets) - set(spec.splits)
    _require(not missing, f"{who}: the protocol's query sets are not splits: {sorted(missing)}")
    for top in dict.fromkeys(s.split("/")[0] for s in spec.splits):
        for qs in spec.query_sets(top):
            _require(f"{top}/{qs}" in spec.splits, f"{who}: query set {top}/{qs} is not a split")
    if spec.prepare:
        _require(callable(spec.load_prepare()), f"{who}: its prepare step is not callable")
    described = describe_spec(name)
    _require(
        [row["split"] for row in described["splits"]] == list(spec.splits),
        f"{who}: `vprkit datasets show` lists other splits than the spec",
    )

    made = create_dataset(name, small_config("dataset", name, overrides))
    _require(
        isinstance(made, DatasetProvider) or callable(made), f"{who}: the factory's object has no generate(out_dir)"
    )
    generate = made.generate if isinstance(made, DatasetProvider) else made
    out = Path(tmp_dir) / name
    try:
        counts = generate(out)
    except VprkitError as exc:
        message = str(exc)
        _require(name in message, f"{who}: generate's error does not name the dataset: {message}")
        if spec.prepare:
            _require(
                "vprkit datasets prepare" in message,
                f"{who}: generate's error does not say how to prepare it: {message}",
            )
        _require(not out.exists() or not any(out.iterdir()), f"{who}: a failed generate left files in {out}")
        return None

    from vprkit.data.standard import load_split

    shown = {row["split"]: row["images"] for row in describe_folder(out)["splits"]}
    written = dict(shown if counts is None else counts)  # generate may return None (no counts)
    _require(written, f"{who}: generate wrote no split")
    extra = set(written) - set(spec.splits)
    _require(not extra, f"{who}: generate wrote splits the spec does not list: {sorted(extra)}")
    for split, count in written.items():
        _require(
            shown.get(split) == count, f"{who}: split {split!r} holds {shown.get(split)} images, generate said {count}"
        )
        images = load_split(out, split)
        _require(len(images) == count, f"{who}: split {split!r} reads as {len(images)} images, generate said {count}")
        _require(
            np.isfinite(images.east).all() and np.isfinite(images.north).all(),
            f"{who}: split {split!r} has images without UTM coordinates",
        )
    return written
