"""Public interfaces of trained models, used by the pipeline and by third-party plugins.

A **classifier** (``ClassifierSpec`` factory result, once trained or loaded) predicts ranked classes
of a partition; a **retriever** produces L2-normalised place descriptors for an index. Both are
saved as a directory that becomes part of a map bundle (DESIGN.md "Artifacts")::

    weights.safetensors     network (+ heads) weights
    config.yaml             the resolved config
    partition/              (classifiers) the partition the heads were trained on
    manifest.json           kind, method name, vprkit version, fingerprints of weights and config

Images given to ``descriptor`` / ``classify`` / ``encode`` are ``(B, 3, H, W)`` float32 tensors
already passed through the object's ``transform`` (PIL image → normalised tensor).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["ClassPrediction", "TrainedClassifier", "TrainedRetriever"]


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


class TrainedClassifier(ABC):
    """A trained classifier over a partition (D&C's AAMC, PlaNet, HGE...)."""

    #: the Partition the heads were trained on (classes, groups, coordinates, ``assign``)
    partition: Any
    #: eval preprocessing: PIL image → ``(3, H, W)`` float32 tensor
    transform: Callable[[Any], torch.Tensor]
    #: descriptor dimension d
    descriptor_dim: int

    @abstractmethod
    def descriptor(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, d)`` float32 descriptors (the backbone + aggregation part)."""

    @abstractmethod
    def classify_descriptors(self, descriptors: torch.Tensor, k: int) -> ClassPrediction:
        """Top-``k`` classes from ``(B, d)`` descriptors (the head part, timed apart)."""

    def classify(self, images: torch.Tensor, k: int) -> ClassPrediction:
        """``descriptor`` then ``classify_descriptors``."""
        return self.classify_descriptors(self.descriptor(images), k)

    @abstractmethod
    def fingerprint(self) -> str:
        """SHA-256 of weights + config (+ partition): what a bundle's index was built with."""

    @abstractmethod
    def save(self, directory: str | Path) -> Path:
        """Write the model directory (see module docstring) atomically; returns it."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | Path) -> TrainedClassifier:
        """Read a directory written by ``save``; refuses one whose fingerprints do not match."""


class TrainedRetriever(ABC):
    """A trained retriever (CosPlace, NetVLAD, GeM): images → L2-normalised descriptors."""

    transform: Callable[[Any], torch.Tensor]
    descriptor_dim: int

    @abstractmethod
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, D)`` float32, L2-normalised."""

    @abstractmethod
    def fingerprint(self) -> str:
        """SHA-256 of weights + config."""

    @abstractmethod
    def save(self, directory: str | Path) -> Path:
        """Write the model directory atomically; returns it."""

    @classmethod
    @abstractmethod
    def load(cls, directory: str | Path) -> TrainedRetriever:
        """Read a directory written by ``save``."""
