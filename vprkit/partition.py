"""The :class:`Partition`: classes, groups and class coordinates made by a partitioner.

A partitioner plugin (``create_partitioner(name, **config)``) returns an object whose
``fit(east, north, heading=None, features=None, *, utm_zone=None)`` builds a Partition from
training points (UTM metres, headings in degrees clockwise from north, optional per-image feature
rows): a :class:`vprkit.contracts.Partitioner`, most shortly a :class:`PartitionerBase` that states
its ``name``, ``config_cls`` and ``partition(points)``. The Partition then

- numbers its classes deterministically (sorted by the class's natural key, never set order);
- gives each class a group (D&C/CosPlace train one head per group; S2 methods have one group);
- maps any point to its class and group with :meth:`Partition.assign` (−1 outside);
- keeps the fitted images' labels (:attr:`Partition.train_labels`, input order) for trainers;
- may carry child partitions and a hierarchy matrix (HGE's coarser levels, CPlaNet's geoclass
  sets) and method-specific arrays in :attr:`Partition.extras`;
- saves to one ``.npz`` file (arrays + JSON metadata, written atomically) and has a content
  :meth:`Partition.fingerprint`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from vprkit.contracts import Partitioner
from vprkit.errors import DataError
from vprkit.fileio import atomic_path
from vprkit.fileio import fingerprint as _fingerprint
from vprkit.geometry.locate import GridLocator, S2Locator, locator_from_arrays
from vprkit.geometry.points import check_points

if TYPE_CHECKING:
    from pydantic import BaseModel

    from vprkit.data.image_list import ImageList

__all__ = [
    "COORD_MODES",
    "FORMAT_VERSION",
    "Partition",
    "Partitioner",
    "PartitionerBase",
    "TrainingPoints",
    "partition_dataset",
]

#: How a class coordinate (Class2UTM) was computed.
COORD_MODES = ("center", "mean", "medoid")
FORMAT_VERSION = 1


ConfigT = TypeVar("ConfigT", bound="BaseModel")


@dataclass(frozen=True)
class TrainingPoints:
    """What :meth:`PartitionerBase.fit` hands :meth:`~PartitionerBase.partition`: ``east`` and
    ``north`` checked (float64 ``(n,)`` UTM metres, finite, one length), ``heading`` (degrees) and
    ``features`` (``(n, d)``) as given, and the ``utm_zone`` given to ``fit``."""

    east: np.ndarray
    north: np.ndarray
    heading: np.ndarray | None
    features: np.ndarray | None
    utm_zone: str | tuple[int, str] | None


class PartitionerBase(Generic[ConfigT]):
    """The short way to a :class:`~vprkit.contracts.Partitioner`: a subclass states its registry
    ``name``, its ``config_cls`` (the spec's config class) and :meth:`partition`; the base makes the
    default config and checks the training points before partitioning them."""

    name: str
    config_cls: type[ConfigT]

    def __init__(self, config: ConfigT | None = None) -> None:
        self.config: ConfigT = config if config is not None else self.config_cls()

    def fit(
        self,
        east: np.ndarray,
        north: np.ndarray,
        heading: np.ndarray | None = None,
        features: np.ndarray | None = None,
        *,
        utm_zone: str | tuple[int, str] | None = None,
        **options: Any,
    ) -> Partition:
        """Partition ``(n,)`` training points (see the module docstring); ``options`` are those of
        the method's own :meth:`partition` (CosPlace's ``walk_order``)."""
        east, north = check_points(east, north, f"{self.name} training points")
        return self.partition(TrainingPoints(east, north, heading, features, utm_zone), **options)

    def partition(self, points: TrainingPoints) -> Partition:
        """The method: checked training points → their :class:`Partition`."""
        raise NotImplementedError


@dataclass(eq=False)
class Partition:
    """Classes and groups of one partition.

    Attributes:
        method: partitioner name (``"dnc"``, ``"s2"``...).
        config: the resolved partitioner config (JSON-able dict).
        locator: maps points to class indices (grid or S2 cells).
        class_keys: natural key per class: ``(C, 2)`` cell corner (east, north) in metres for D&C,
            ``(C, 3)`` corner + heading-bin start (degrees) for CosPlace, ``(C,)`` S2 tokens for S2.
        class_coords: ``(C, 2)`` float64 UTM metres (Class2UTM), computed as :attr:`coord_mode`.
        coord_mode: ``"center"``, ``"mean"`` or ``"medoid"``.
        group_of_class: ``(C,)`` int64 group index of each class.
        num_groups: number of groups (``N²`` for D&C, ``groups_num`` for CosPlace, 1 otherwise).
        class_counts: ``(C,)`` int64 training images per class.
        train_labels: ``(n,)`` int64 class of each fitted image in input order, −1 if dropped.
        dropped_by_reason: images dropped per reason (e.g. ``{"min_images_per_class": 12}``).
        utm_zone: ``"10S"`` when the partition converts UTM to lat/lon (S2), else ``None``.
        children: named sub-partitions (HGE ``coarse``/``medium``; CPlaNet ``set1``..``set5``).
        hierarchy: ``(C, len(children))`` int64, class of each of this partition's classes in
            every child partition (same order as ``children``), or ``None``.
        extras: method-specific arrays (e.g. S2 ``cell_ids`` uint64, CPlaNet atom tables).
        info: method-specific JSON-able facts (e.g. τ after density scaling).
    """

    method: str
    config: dict[str, Any]
    locator: GridLocator | S2Locator
    class_keys: np.ndarray
    class_coords: np.ndarray
    coord_mode: str
    group_of_class: np.ndarray
    num_groups: int
    class_counts: np.ndarray
    train_labels: np.ndarray
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    utm_zone: str | None = None
    children: dict[str, Partition] = field(default_factory=dict)
    hierarchy: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = len(self.class_keys)
        if self.class_coords.shape != (c, 2):
            raise DataError(f"partition: class_coords has shape {self.class_coords.shape}, expected ({c}, 2)")
        for name in ("group_of_class", "class_counts"):
            if getattr(self, name).shape != (c,):
                raise DataError(f"partition: {name} has shape {getattr(self, name).shape}, expected ({c},)")
        if self.coord_mode not in COORD_MODES:
            raise DataError(f"partition: coord_mode {self.coord_mode!r} not in {COORD_MODES}")
        if self.hierarchy is not None and self.hierarchy.shape != (c, len(self.children)):
            raise DataError(
                f"partition: hierarchy has shape {self.hierarchy.shape}, expected ({c}, {len(self.children)})"
            )

    # ----------------------------------------------------------------- sizes
    @property
    def num_classes(self) -> int:
        return len(self.class_keys)

    @property
    def dropped(self) -> int:
        """Training images that belong to no class."""
        return int(sum(self.dropped_by_reason.values()))

    @property
    def groups(self) -> list[np.ndarray]:
        """Class indices of each group, ``groups[k]`` sorted ascending."""
        order = np.argsort(self.group_of_class, kind="stable")
        bounds = np.searchsorted(self.group_of_class[order], np.arange(self.num_groups + 1))
        return [order[bounds[k] : bounds[k + 1]] for k in range(self.num_groups)]

    @property
    def classes_per_group(self) -> np.ndarray:
        """``(num_groups,)`` int64 number of classes in each group."""
        return np.bincount(self.group_of_class, minlength=self.num_groups)

    @property
    def train_groups(self) -> np.ndarray:
        """``(n,)`` int64 group of each fitted image, −1 if dropped."""
        out = np.full(len(self.train_labels), -1, dtype=np.int64)
        kept = self.train_labels >= 0
        out[kept] = self.group_of_class[self.train_labels[kept]]
        return out

    # ---------------------------------------------------------------- assign
    def assign(
        self, east: np.ndarray, north: np.ndarray, heading: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class and group index ``(n,)`` int64 of every point (−1, −1 outside every class).

        ``east``/``north`` are UTM metres in the partition's zone; ``heading`` (degrees) is needed
        only by heading-binned partitions (CosPlace) and wrapped mod 360.
        """
        labels = self.locator.locate(east, north, heading)
        groups = np.where(labels >= 0, self.group_of_class[np.maximum(labels, 0)], -1) if self.num_classes else labels
        return labels, groups

    def summary(self) -> dict[str, Any]:
        """Counts for reports: classes, groups, images per class, dropped images."""
        counts = self.class_counts
        out: dict[str, Any] = {
            "method": self.method,
            "num_classes": self.num_classes,
            "num_groups": self.num_groups,
            "classes_per_group": self.classes_per_group.tolist(),
            "images": len(self.train_labels),
            "kept_images": int(counts.sum()),
            "dropped_images": self.dropped,
            "dropped_by_reason": dict(self.dropped_by_reason),
            "images_per_class": {
                "min": int(counts.min()) if len(counts) else 0,
                "median": float(np.median(counts)) if len(counts) else 0.0,
                "mean": float(counts.mean()) if len(counts) else 0.0,
                "max": int(counts.max()) if len(counts) else 0,
            },
            "coord_mode": self.coord_mode,
        }
        if self.children:
            out["children"] = {name: child.summary() for name, child in self.children.items()}
        if self.info:
            out["info"] = dict(self.info)
        return out

    # ------------------------------------------------------------ save/load
    def _flatten(self, prefix: str = "") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        loc_arrays, loc_meta = self.locator.to_arrays()
        arrays = {
            "class_keys": np.asarray(self.class_keys),
            "class_coords": self.class_coords,
            "group_of_class": self.group_of_class,
            "class_counts": self.class_counts,
            "train_labels": self.train_labels,
            **{f"locator.{k}": v for k, v in loc_arrays.items()},
            **{f"extras.{k}": v for k, v in self.extras.items()},
        }
        if self.hierarchy is not None:
            arrays["hierarchy"] = self.hierarchy
        meta: dict[str, Any] = {
            "method": self.method,
            "config": self.config,
            "coord_mode": self.coord_mode,
            "num_groups": self.num_groups,
            "dropped_by_reason": self.dropped_by_reason,
            "utm_zone": self.utm_zone,
            "locator": loc_meta,
            "extras": sorted(self.extras),
            "info": self.info,
            "children": list(self.children),
        }
        flat = {prefix + k: v for k, v in arrays.items()}
        for name, child in self.children.items():
            child_arrays, child_meta = child._flatten(f"{prefix}children.{name}.")
            flat.update(child_arrays)
            meta.setdefault("child_meta", {})[name] = child_meta
        return flat, meta

    @classmethod
    def _unflatten(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], prefix: str = "") -> Partition:
        def get(name: str) -> np.ndarray:
            return arrays[prefix + name]

        loc_meta = meta["locator"]
        loc_names = [k[len(prefix) + 8 :] for k in arrays if k.startswith(prefix + "locator.")]
        locator = locator_from_arrays({n: get("locator." + n) for n in loc_names}, loc_meta)
        children = {
            name: cls._unflatten(arrays, meta["child_meta"][name], f"{prefix}children.{name}.")
            for name in meta["children"]
        }
        return cls(
            method=meta["method"],
            config=meta["config"],
            locator=locator,
            class_keys=get("class_keys"),
            class_coords=get("class_coords"),
            coord_mode=meta["coord_mode"],
            group_of_class=get("group_of_class"),
            num_groups=int(meta["num_groups"]),
            class_counts=get("class_counts"),
            train_labels=get("train_labels"),
            dropped_by_reason={k: int(v) for k, v in meta["dropped_by_reason"].items()},
            utm_zone=meta["utm_zone"],
            children=children,
            hierarchy=get("hierarchy") if prefix + "hierarchy" in arrays else None,
            extras={name: get("extras." + name) for name in meta["extras"]},
            info=meta.get("info", {}),
        )

    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` (arrays, no pickles; JSON metadata inside) atomically; returns the path."""
        arrays, meta = self._flatten()
        meta = {"format": "vprkit-partition", "version": FORMAT_VERSION, "fingerprint": self.fingerprint(), **meta}
        arrays["__meta__"] = np.array(json.dumps(meta, sort_keys=True))
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            # allow_pickle: numpy's default, named so that the stub does not match **arrays to it
            np.savez(fh, allow_pickle=True, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Partition:
        """Read a partition written by :meth:`save`; a damaged or foreign file is a :class:`DataError`."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"partition file {str(path)!r} does not exist")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            meta = json.loads(str(arrays.pop("__meta__")))
        except Exception as exc:  # zip, JSON and key errors all mean "not a partition file"
            raise DataError(f"{str(path)!r} is not a readable vprkit partition: {exc}") from exc
        if meta.get("format") != "vprkit-partition" or meta.get("version") != FORMAT_VERSION:
            raise DataError(f"{str(path)!r} is not a vprkit partition of format version {FORMAT_VERSION}")
        part = cls._unflatten(arrays, meta)
        if part.fingerprint() != meta["fingerprint"]:
            raise DataError(f"partition file {str(path)!r} is corrupt: its content does not match its fingerprint")
        return part

    def fingerprint(self) -> str:
        """SHA-256 of the partition's content: method, config, classes, groups, coordinates,
        locator, children and hierarchy (not the per-image training labels).

        Computed once: the hashed arrays are then made read-only and the value is kept while the
        partition holds the same arrays and metadata (a load, the model's and the bundle's checks
        all reuse it; assigning a new array or changing a field hashes again)."""
        arrays, meta = self._flatten()
        arrays = {k: np.asarray(v) for k, v in arrays.items() if not k.endswith("train_labels")}
        meta = {k: v for k, v in meta.items() if k != "dropped_by_reason"}
        meta_text = json.dumps(meta, sort_keys=True, default=str)
        key = (
            meta_text,
            tuple(
                (k, id(v), v.__array_interface__["data"][0], v.shape, v.dtype.str) for k, v in sorted(arrays.items())
            ),
        )
        cached = self.__dict__.get("_fingerprint_cache")
        if cached is not None and cached[0] == key:
            return str(cached[1])
        parts: list[Any] = [meta_text]
        for name in sorted(arrays):
            parts += [name, arrays[name]]
        value = _fingerprint(*parts)
        for array in arrays.values():  # the value describes these arrays: they must not change in place
            array.flags.writeable = False
        self.__dict__["_fingerprint_cache"] = (key, value)
        return value

    def __repr__(self) -> str:
        return (
            f"Partition(method={self.method!r}, classes={self.num_classes}, groups={self.num_groups}, "
            f"images={len(self.train_labels)}, dropped={self.dropped}, coord_mode={self.coord_mode!r})"
        )


def partition_dataset(
    partitioner: str,
    dataset: str | Path,
    *,
    split: str = "train",
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    features: np.ndarray | None = None,
) -> tuple[Partition, ImageList]:
    """Fit partitioner ``partitioner`` on one split of a dataset in the standard layout.

    Reads the split with :func:`vprkit.data.load_split`, resolves the config (defaults ← YAML
    ``config_file`` ← ``key=value`` ``overrides``), passes headings when the images have them
    and the dataset's UTM zone. Returns ``(partition, image_list)``.
    """
    from vprkit.config import load_config
    from vprkit.data import load_split
    from vprkit.registry import get_partitioner_spec

    spec = get_partitioner_spec(partitioner)
    config = load_config(spec.config, config_file, overrides, owner=f"partitioner {partitioner!r}")
    from vprkit.data.resolve import resolve_dataset

    dataset, _ = resolve_dataset(dataset)  # a folder, or "synthcity" (generated on first use)
    images = load_split(dataset, split)
    if not len(images):
        raise DataError(f"dataset {str(dataset)!r} split {split!r} has no images to partition")
    heading = images.heading if np.isfinite(images.heading).any() else None
    zone = f"{images.zone_number}{images.zone_letter}" if images.zone_number and images.zone_letter else None
    fitted = spec.load_factory()(config).fit(images.east, images.north, heading, features, utm_zone=zone)
    if fitted.num_classes == 0:
        # a partition without classes trains nothing and localizes nothing: say which setting emptied it
        raise DataError(
            f"partitioner {partitioner!r} made no classes from the {len(images):,} images of "
            f"{str(dataset)!r} split {split!r}; lower its minimum images per class or its cell size "
            f"(vprkit plugins show partitioner {partitioner})"
        )
    return fitted, images
