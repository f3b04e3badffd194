"""The typed contract under the plugins: what the pipeline, the trainer and the CLI use of each kind.

One module, import-light (NumPy and typing only at run time), so that a third-party package can
annotate against it and :mod:`vprkit.testing` can check an implementation against it. Every
built-in satisfies these protocols; the base classes in :mod:`vprkit.models.trained` and
:mod:`vprkit.index.base` are the short way to do so.

Kinds and what returns them:

==============  ===========================================  ======================================
kind            made by                                      protocol
==============  ===========================================  ======================================
partitioner     ``create_partitioner(name)``                 :class:`Partitioner` → ``Partition``
classifier      ``create_classifier(name)`` / ``load``       :class:`Classifier`
retriever       ``create_retriever(name)`` / ``load``        :class:`Retriever`
index           ``create_index(name)`` / ``load_index``      :class:`NearestIndex`
reranker        ``create_reranker(name)``                    :class:`Reranker` → :class:`Reranked`
dataset         ``create_dataset(name)``                     :class:`DatasetProvider`
==============  ===========================================  ======================================

Long-running library work reports through one :class:`Progress` protocol; the rich bars live in
the CLI (:mod:`vprkit.cli.progress`), the library default is :class:`NullProgress`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # annotations only: keep this module free of torch / pydantic at import time
    import torch
    from pydantic import BaseModel

    from vprkit.index.base import IndexFingerprint
    from vprkit.models.interfaces import ClassPrediction
    from vprkit.partition import Partition

__all__ = [
    "Classifier",
    "DatasetProvider",
    "LocalFeatures",
    "LogProgress",
    "NearestIndex",
    "NullProgress",
    "Partitioner",
    "Progress",
    "RerankCandidates",
    "Reranked",
    "Reranker",
    "Retriever",
    "TrainRequest",
    "TrainedModel",
    "Verification",
]


# ------------------------------------------------------------------------------------ progress
@runtime_checkable
class Progress(Protocol):
    """Where long work reports: one call shape for every loop (extraction, training, evaluation).

    ``update(step, done, total, **fields)``: ``step`` names the bar (a new name starts a new bar),
    ``done`` of ``total`` units are finished (``total=None``: unknown), ``fields`` are numbers
    shown beside it (``loss=0.31, images_per_s=412``). ``note(text)`` is a line of its own
    (an epoch's summary).
    """

    def update(self, step: str, done: int, total: int | None, **fields: float) -> None: ...

    def note(self, text: str) -> None: ...


class NullProgress:
    """The library default: reports nothing."""

    def update(self, step: str, done: int, total: int | None, **fields: float) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class LogProgress:
    """Report through :mod:`logging` (``logger``): every ``every``-th unit of a step, and notes."""

    def __init__(self, logger: str = "vprkit", every: int = 100) -> None:
        import logging

        self.log = logging.getLogger(logger)
        self.every = max(int(every), 1)

    def update(self, step: str, done: int, total: int | None, **fields: float) -> None:
        if done % self.every == 0 or (total is not None and done == total):
            shown = " ".join(f"{k} {v:.4g}" for k, v in fields.items())
            self.log.info("%s: %d/%s %s", step, done, total if total is not None else "?", shown)

    def note(self, text: str) -> None:
        self.log.info("%s", text)


# ------------------------------------------------------------------------------------ training
@dataclass(frozen=True)
class TrainRequest:
    """One training run, as ``vprkit train`` (or a script) asks a method's trainer for it.

    A method's trainer is ``trainer(model, request) -> model`` (named by ``ModelSpec.trainer``):
    it trains ``model`` on ``dataset``, keeps state in ``out_dir/training`` and saves the model
    folder to ``out_dir``.

    Attributes:
        dataset: root of a dataset folder (train split, and val for validation).
        out_dir: the run's folder.
        resume: continue from ``out_dir/training/last.pt``.
        allow_new_data: on resume, accept a checkpoint trained on another training set.
        progress: where the loop reports (default: nothing).
        on_start: called once every resume check passed, before the first step.
    """

    dataset: Path
    out_dir: Path
    resume: bool = False
    allow_new_data: bool = False
    progress: Progress | None = None
    on_start: Callable[[], None] | None = None


# ------------------------------------------------------------------------------------ partitions
@runtime_checkable
class Partitioner(Protocol):
    """What a partitioner factory returns: a ``config`` plus ``fit`` (UTM metres → a Partition)."""

    name: str
    config: Any

    def fit(
        self,
        east: np.ndarray,
        north: np.ndarray,
        heading: np.ndarray | None = None,
        features: np.ndarray | None = None,
        *,
        utm_zone: str | tuple[int, str] | None = None,
    ) -> Partition: ...


# ------------------------------------------------------------------------------------ models
@runtime_checkable
class TrainedModel(Protocol):
    """What every trained model (classifier or retriever) offers the pipeline and the CLI."""

    name: ClassVar[str]

    @property
    def config(self) -> BaseModel:
        """The validated config (an instance of the spec's ``config`` class; read-only here so that a
        model declaring its own config class satisfies the protocol)."""
        ...

    #: eval preprocessing: PIL image → ``(3, H, W)`` float32 tensor
    transform: Callable[[Any], torch.Tensor]
    #: what training recorded (dataset, epochs, history); ``{}`` for an untrained model
    training_summary: dict[str, Any]

    @property
    def descriptor_dim(self) -> int: ...

    def to(self, device: str | torch.device) -> Any: ...

    def fingerprint(self) -> str: ...

    def save(self, directory: str | Path) -> Path: ...

    @classmethod
    def load(cls, directory: str | Path) -> Any: ...


@runtime_checkable
class Classifier(TrainedModel, Protocol):
    """A classifier over a partition: images → descriptors → ranked classes (``ClassPrediction``)."""

    partition: Partition

    def descriptor(self, images: torch.Tensor) -> torch.Tensor: ...

    def classify_descriptors(self, descriptors: torch.Tensor, k: int) -> ClassPrediction: ...


@runtime_checkable
class Retriever(TrainedModel, Protocol):
    """A retriever: ``(B, 3, H, W)`` images → ``(B, D)`` float32 L2-normalised descriptors."""

    def encode(self, images: torch.Tensor) -> torch.Tensor: ...


# ------------------------------------------------------------------------------------ indexes
@runtime_checkable
class NearestIndex(Protocol):
    """A k-NN index over L2-normalised descriptors (inner product), searched over all rows or
    over given rows (CSR: ``offsets (q+1,)``, ``rows (nnz,)`` database rows per query, as a
    :class:`vprkit.index.CandidateRows`; or one row array shared by every query, or one per query)."""

    name: ClassVar[str]
    dim: int | None
    fingerprint: IndexFingerprint | None

    @property
    def config(self) -> BaseModel | None:
        """The validated config of the index (its spec's config class)."""
        ...

    @property
    def ntotal(self) -> int: ...

    def build(self, descriptors: Any, *, fingerprint: IndexFingerprint | None = None) -> Any: ...

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def search_rows(self, queries: Any, rows: Any, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def memory_bytes(self) -> int: ...

    def save(self, folder: str | Path) -> Path: ...


# ------------------------------------------------------------------------------------ re-rankers
@dataclass(frozen=True)
class LocalFeatures:
    """The local features of one image.

    Attributes:
        keypoints: ``(n, 2)`` float32 pixel coordinates (x, y) in the image as given.
        descriptors: ``(n, d)`` one row per keypoint, in the method's own dtype (SIFT: uint8,
            learned features: float32).
        image_size: ``(width, height)`` in pixels of the image the keypoints are in, or ``None``
            when unknown. Matchers that normalise keypoints by the image size (LightGlue) need it
            to give the authors' outputs.
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    image_size: tuple[int, int] | None = None

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.keypoints.nbytes + self.descriptors.nbytes)


@dataclass(frozen=True)
class Verification:
    """Geometric verification of one (query, candidate) pair.

    Attributes:
        inliers: tentative matches consistent with the fitted geometry (0 when none could be fitted).
        matches: ``(inliers, 2)`` int64 (query keypoint, candidate keypoint) of the inlier matches.
        tentative: matches that passed the descriptor test (ratio test, or the matcher's own).
    """

    inliers: int
    matches: np.ndarray
    tentative: int = 0


@dataclass(frozen=True)
class RerankCandidates:
    """A query's shortlist, in retrieval order.

    Attributes:
        rows: ``(K,)`` int64 database rows.
        scores: ``(K,)`` float32 retrieval scores (similarities).
        images: the K database images (PIL, RGB), when their features are not given.
        features: the K images' :class:`LocalFeatures` (from a feature store), when known.
    """

    rows: np.ndarray
    scores: np.ndarray
    images: Sequence[Any] | None = None
    features: Sequence[LocalFeatures] | None = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])


@dataclass(frozen=True)
class Reranked:
    """The shortlist re-ordered by a :class:`Reranker`, best first.

    Attributes:
        order: ``(K,)`` int64 positions into the given candidates (a permutation).
        rows: ``(K,)`` int64 the database rows, re-ordered.
        scores: ``(K,)`` float32 the re-ranker's scores (the inlier count), non-increasing.
        retrieval_scores: ``(K,)`` float32 the candidates' retrieval scores, re-ordered.
        inliers: ``(K,)`` int64 the evidence: inlier matches per candidate, re-ordered.
        matches: per re-ordered candidate, its ``(m, 2)`` inlier matches (query, candidate keypoint).
        query: the query's local features (the keypoints ``matches`` index).
        candidates: the re-ordered candidates' local features.
    """

    order: np.ndarray
    rows: np.ndarray
    scores: np.ndarray
    retrieval_scores: np.ndarray
    inliers: np.ndarray
    matches: tuple[np.ndarray, ...]
    query: LocalFeatures
    candidates: tuple[LocalFeatures, ...]


@runtime_checkable
class Reranker(Protocol):
    """What a re-ranker factory returns: local features, pairwise verification and re-ranking.

    ``rerank`` verifies the query against each candidate (``threads`` pairs at a time) and sorts by
    the verification score, highest first; ties keep their retrieval order (a stable sort), so the
    result is deterministic. ``fingerprint`` covers everything that changes the features
    (method, config, weights): database features are cached under it.
    :class:`vprkit.rerank.RerankerBase` implements ``rerank`` from ``extract`` and ``verify``.
    """

    name: ClassVar[str]

    @property
    def config(self) -> BaseModel:
        """The validated config (an instance of the spec's ``config`` class)."""
        ...

    def fingerprint(self) -> str: ...

    def extract(self, image: Any) -> LocalFeatures: ...

    def verify(self, query: LocalFeatures, candidate: LocalFeatures) -> Verification: ...

    def rerank(self, query: Any, candidates: RerankCandidates, *, threads: int = 1) -> Reranked: ...


# ------------------------------------------------------------------------------------ datasets
@runtime_checkable
class DatasetProvider(Protocol):
    """What a dataset factory returns: ``generate(out_dir)`` writes the dataset in the standard
    layout under ``out_dir`` (synthcity builds it; a downloadable dataset's ``generate`` explains
    how to get and prepare it) and returns the image count per split, or ``None``."""

    def generate(self, out_dir: Path) -> Mapping[str, int] | None: ...
