"""Public interfaces of trained models, used by the pipeline and by third-party plugins.

A **classifier** (``ClassifierSpec`` factory result, once trained or loaded) predicts ranked classes
of a partition; a **retriever** produces L2-normalised place descriptors for an index. Both are
saved as a directory that becomes part of a map bundle (docs/models.md)::

    weights.safetensors     network (+ heads) weights
    config.yaml             the resolved config
    partition.npz           (classifiers) the partition the heads were trained on
    manifest.json           kind, method name, vprkit version, fingerprints of weights and config

Images given to ``descriptor`` / ``classify`` / ``encode`` are ``(B, 3, H, W)`` float32 tensors
already passed through the object's ``transform`` (PIL image → normalised tensor).

Both derive from :class:`~vprkit.models.trained.TrainedModelBase` (config, transform, device,
state, fingerprint, save, load) and satisfy :class:`vprkit.contracts.Classifier` /
:class:`vprkit.contracts.Retriever`. A method's spec names the model class itself as its
``factory`` (``factory(config)`` builds one, ``factory.load(folder)`` reads one) and, to be
trainable by ``vprkit train``, a ``trainer`` function (:mod:`vprkit.training.recipe`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn

from vprkit.models.trained import TrainedModelBase

if TYPE_CHECKING:
    from typing_extensions import Self

    from vprkit.partition import Partition

__all__ = ["ClassPrediction", "TrainedClassifier", "TrainedModelBase", "TrainedRetriever"]


@dataclass(frozen=True)
class ClassPrediction:
    """Top-k classes of a batch of B queries.

    Attributes:
        classes: ``(B, k)`` int64 class indices of the partition, best first.
        scores: ``(B, k)`` float32 scores (higher is better; comparable within one query).
        coords: ``(B, k, 2)`` float64 UTM (east, north) of the classes, metres.
        confidence: ``(B,)`` float64, metres: D&C's spread of the groups' top-1 coordinates
            (small = the experts agree); NaN where a method defines none.
    """

    classes: np.ndarray
    scores: np.ndarray
    coords: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        b, k = self.classes.shape
        if self.scores.shape != (b, k) or self.coords.shape != (b, k, 2) or self.confidence.shape != (b,):
            raise ValueError(
                f"inconsistent ClassPrediction shapes: classes {self.classes.shape}, scores "
                f"{self.scores.shape}, coords {self.coords.shape}, confidence {self.confidence.shape}"
            )

    def abstain(self, max_std_m: float) -> np.ndarray:
        """``(B,)`` bool: True where the prediction should be withheld (confidence > threshold)."""
        return ~(self.confidence <= max_std_m)


class TrainedClassifier(TrainedModelBase):
    """A trained classifier over a partition (D&C's AAMC, PlaNet, HGE...).

    ``Classifier(config)`` has no weights yet; :meth:`build` makes fresh ones for a partition
    (what a trainer does first), :meth:`load` reads a saved model. A subclass states
    :meth:`build_net`, :meth:`make_heads` and :meth:`classify_descriptors` (and, if it needs
    tables derived from the partition, :meth:`prepare`).
    """

    kind: ClassVar[str] = "classifier"

    def __init__(self, config: BaseModel | None = None):
        super().__init__(config)
        #: the Partition the heads were trained on (classes, groups, coordinates, ``assign``)
        self.partition: Partition = None  # type: ignore[assignment]  # set by build / load

    @abstractmethod
    def make_heads(self, partition: Partition, dim: int) -> nn.Module:
        """Fresh heads for ``partition`` on ``dim``-D descriptors (saved as ``heads.*``)."""

    def prepare(self, partition: Partition) -> None:
        """Inference tables derived from the partition (called by :meth:`build`); default none."""

    def build(self, partition: Partition) -> Self:
        """Fresh network and heads for ``partition`` (weights from the torch RNG)."""
        self.partition = partition
        self.net = self.build_net()
        self.heads = self.make_heads(partition, self.net.dim)
        self.prepare(partition)
        return self

    @classmethod
    def build_for(cls, config: BaseModel, saved: Mapping[str, Any]) -> Self:
        return cls(config).build(saved["partition"])

    def _fresh_heads(self) -> nn.Module:
        self.heads = self.make_heads(self.partition, self.net.dim).to(self.device)
        self.prepare(self.partition)  # after the heads: its tables may derive from them
        return self.heads

    def saved_partition(self) -> Partition:
        return self.partition

    def descriptor(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, d)`` float32 descriptors (the backbone + aggregation part)."""
        return self._describe(images)

    @abstractmethod
    def classify_descriptors(self, descriptors: torch.Tensor, k: int) -> ClassPrediction:
        """Top-``k`` classes from ``(B, d)`` descriptors (the head part, timed apart)."""

    def classify(self, images: torch.Tensor, k: int) -> ClassPrediction:
        """``descriptor`` then ``classify_descriptors``."""
        return self.classify_descriptors(self.descriptor(images), k)


class TrainedRetriever(TrainedModelBase):
    """A trained retriever (CosPlace, NetVLAD, GeM): images → L2-normalised descriptors.

    ``Retriever(config)`` builds its network at once (:meth:`build_net`, seeded by
    ``config.training.seed`` when the config has a training schedule); :meth:`load` reads a saved
    one. A subclass states ``name``, ``config_cls`` and :meth:`build_net` (whose output must be
    L2-normalised).
    """

    kind: ClassVar[str] = "retriever"

    def __init__(self, config: BaseModel | None = None):
        super().__init__(config)
        training = getattr(self.config, "training", None)
        if training is not None:
            torch.manual_seed(training.seed)
        self.net = self.build_net()

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, D)`` float32, L2-normalised."""
        return self._describe(images)
