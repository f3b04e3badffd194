"""``ivfpq``: faiss inverted file + product quantization, inner product (docs/indexes/index.md).

Paper settings (D&C supplementary, Fig. 5): 1,000 IVF lists, 128 sub-quantizers of 8 bits; the
``recall`` preset probes 50 lists, the ``speed`` preset 2.

Training needs data: k-means wants about ``min_points_per_list`` (39) points per list, PQ needs at
least ``2**nbits`` points. On a database too small for ``nlist`` lists the index lowers nlist to
``n // min_points_per_list`` (``clamp_nlist=True``, logged and recorded as ``nlist_effective``) or
raises :class:`~vprkit.errors.DataError` (``clamp_nlist=False``).

``search_rows`` is faiss's filtered IVF search (an ``IDSelectorBatch`` per query, built from the
query's CSR slice: faiss takes one selector per search call, so the loop is over queries, never over
rows): approximate, and it can only find allowed rows in the probed lists, so with a small
candidate set and a small nprobe it may return fewer than k rows (padded -inf / -1). For exact
scores among candidates use ``flat``.

GPU: ``to_device("cuda[:i]")`` clones the index onto a GPU with ``faiss.index_cpu_to_gpu`` when
faiss is a GPU build (``faiss-gpu``) that sees a GPU, and refuses otherwise
(:class:`~vprkit.errors.ConfigError`). The CPU index is kept: saving, ``add`` (which then re-clones)
and ``search_rows`` use it, since faiss's GPU indexes take no ``IDSelector``; ``search`` runs on
the GPU (for ``k`` and ``nprobe`` up to faiss's GPU limit of 2048, else on the CPU).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from vprkit.errors import ConfigError, DataError
from vprkit.fileio import atomic_path
from vprkit.index.base import CandidateRows, DescriptorIndex, StaleIndexError, parse_device
from vprkit.index.exact import faiss_threads, pad_topk
from vprkit_faiss.config import IvfpqConfig

__all__ = ["IvfpqIndex", "faiss_gpu_count"]

log = logging.getLogger(__name__)

#: the largest k (and nprobe) faiss's GPU IVF search takes
GPU_MAX_K = 2048


def faiss_gpu_count() -> int:
    """GPUs this faiss can use: 0 for the CPU build (no ``StandardGpuResources``)."""
    if not hasattr(faiss, "StandardGpuResources"):
        return 0
    return int(faiss.get_num_gpus())


def write_faiss_index(index: Any, path: Path) -> None:
    with atomic_path(path, suffix=".faiss") as tmp:
        faiss.write_index(index, str(tmp))


def read_faiss_index(path: Path) -> Any:
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:  # faiss reports a truncated/corrupt file as RuntimeError
        raise StaleIndexError(f"cannot read faiss index {str(path)!r} ({exc}); rebuild it") from exc


class IvfpqIndex(DescriptorIndex):
    """IVF + PQ over L2-normalised descriptors; memory ≈ n · (m·nbits/8 + 8) bytes + centroids."""

    name = "ivfpq"
    config: IvfpqConfig
    _FILE = "ivfpq.faiss"

    def __init__(self, config: IvfpqConfig | None = None) -> None:
        super().__init__(config or IvfpqConfig())
        self._index: Any = None
        self.nlist_effective: int | None = None
        #: where ``search`` runs: "cpu" or "cuda:i" (see :meth:`to_device`)
        self.device = "cpu"
        self._gpu_index: Any = None  # faiss GPU clone of self._index, when on CUDA
        self._gpu_resources: Any = None  # owns the clone's GPU memory: lives as long as it

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal) if self._index is not None else 0

    @property
    def nprobe(self) -> int:
        return min(self.config.effective_nprobe(), self.nlist_effective or self.config.nlist)

    def settings(self) -> dict[str, Any]:
        """The config plus the lists actually trained (``nlist_effective``, lower than ``nlist`` on a
        small database) and the lists probed per query (``nprobe_effective``)."""
        return {**super().settings(), "nlist_effective": self.nlist_effective, "nprobe_effective": self.nprobe}

    def _checked_nlist(self, n: int, d: int) -> int:
        cfg = self.config
        if d % cfg.m:
            raise DataError(f"ivfpq: m={cfg.m} sub-quantizers must divide the descriptor dimension {d}")
        if n < 2**cfg.nbits:
            raise DataError(
                f"ivfpq: PQ with nbits={cfg.nbits} needs at least {2**cfg.nbits} training rows, got {n}; "
                "lower nbits or use the 'flat' index"
            )
        needed = cfg.nlist * cfg.min_points_per_list
        if n >= needed:
            return cfg.nlist
        if not cfg.clamp_nlist:
            raise DataError(
                f"ivfpq: nlist={cfg.nlist} needs at least {needed} training rows "
                f"({cfg.min_points_per_list} per list), got {n}; lower nlist or set clamp_nlist=true"
            )
        nlist = max(1, n // cfg.min_points_per_list)
        log.warning("ivfpq: %d rows are too few for nlist=%d; using nlist=%d", n, cfg.nlist, nlist)
        return nlist

    def _build(self, x: np.ndarray) -> None:
        cfg = self.config
        n, d = x.shape
        self.nlist_effective = self._checked_nlist(n, d)
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFPQ(quantizer, d, self.nlist_effective, cfg.m, cfg.nbits, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = cfg.seed
        index.pq.cp.seed = cfg.seed
        train = x
        if n > cfg.max_train_points:
            pick = np.random.default_rng(cfg.seed).choice(n, cfg.max_train_points, replace=False)
            train = x[np.sort(pick)]
        with faiss_threads(cfg.threads):
            index.train(train)
            index.add(x)
        self._quantizer = quantizer  # Python owns the quantizer: keep it alive as long as the index
        self._index = index
        if self._gpu_index is not None:  # a rebuilt index replaces the old clone on the same GPU
            self._clone_to_gpu(int(self.device.partition(":")[2]))

    def _add(self, x: np.ndarray) -> None:
        with faiss_threads(self.config.threads):
            self._index.add(x)
        if self._gpu_index is not None:  # one source of truth: re-clone rather than add on both sides
            self._clone_to_gpu(int(self.device.partition(":")[2]))

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        on_gpu = self._gpu_index is not None and k <= GPU_MAX_K and self.nprobe <= GPU_MAX_K
        index = self._gpu_index if on_gpu else self._index
        index.nprobe = self.nprobe
        with faiss_threads(self.config.threads):
            scores, rows = index.search(q, k)
        return pad_topk(scores, rows, k)

    def to_device(self, device: Any) -> IvfpqIndex:
        """Search on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:i"`` or a ``torch.device``); returns self.

        ``cpu`` drops a GPU clone. ``cuda[:i]`` clones the built index onto GPU ``i`` (float16 PQ
        lookup tables: the paper's 128 sub-quantizers of 8 bits do not fit in GPU shared memory in
        float32); a CPU build of faiss, a missing GPU, or a layout faiss's GPU IVFPQ cannot hold is
        a one-line :class:`~vprkit.errors.ConfigError`.
        """
        kind, ordinal = parse_device(device)
        if kind == "cpu":
            self.device, self._gpu_index, self._gpu_resources = "cpu", None, None
            return self
        if kind != "cuda":
            raise ConfigError(f"index 'ivfpq': device {str(device)!r} is not supported; use cpu or cuda[:i]")
        count = faiss_gpu_count()
        if not hasattr(faiss, "StandardGpuResources"):
            raise ConfigError(
                f"index 'ivfpq' on {device}: faiss here is the CPU build; install faiss-gpu (conda install "
                "-c pytorch faiss-gpu, or pip install faiss-gpu-cu12 in place of faiss-cpu) or search on device cpu"
            )
        gpu = ordinal or 0
        if gpu >= count:
            raise ConfigError(f"index 'ivfpq' on {device}: faiss sees {count} GPU(s); use device cpu or cuda:0")
        self._require_built()
        self._clone_to_gpu(gpu)
        return self

    def _clone_to_gpu(self, gpu: int) -> None:
        resources = faiss.StandardGpuResources()
        options = faiss.GpuClonerOptions()
        options.useFloat16 = True  # float16 PQ lookup tables (see to_device)
        try:
            clone = faiss.index_cpu_to_gpu(resources, gpu, self._index, options)
        except RuntimeError as exc:  # faiss's own reason, e.g. an unsupported number of sub-quantizers
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"index 'ivfpq' (m={self.config.m}, nbits={self.config.nbits}): faiss cannot put it on cuda:{gpu} "
                f"({reason}); search it on device cpu or rebuild it with a smaller m"
            ) from exc
        self.device, self._gpu_index, self._gpu_resources = f"cuda:{gpu}", clone, resources

    def _search_rows(self, q: np.ndarray, candidates: CandidateRows, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        rows = np.full((len(q), k), -1, dtype=np.int64)
        with faiss_threads(self.config.threads):
            # always the CPU index: faiss's GPU indexes take no IDSelector
            for i in np.flatnonzero(candidates.counts):  # a selector per query; faiss loops over rows in C++
                selector = faiss.IDSelectorBatch(candidates.of_query(i))
                params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)  # type: ignore[call-arg]
                s, r = self._index.search(q[i : i + 1], k, params=params)
                scores[i], rows[i] = pad_topk(s, r, k)
        return scores, rows

    def memory_bytes(self) -> int:
        """Host RAM of the CPU index (kept on the host after :meth:`to_device`; GPU memory is not counted)."""
        index = self._index
        codes = self.ntotal * (index.code_size + 8)  # PQ codes + 64-bit ids in the inverted lists
        centroids = index.nlist * self.dim * 4
        pq_tables = (2**index.pq.nbits) * self.dim * 4
        return int(codes + centroids + pq_tables)

    def _save_payload(self, folder: Path) -> list[str]:
        write_faiss_index(self._index, folder / self._FILE)
        return [self._FILE]

    def _load_payload(self, folder: Path, meta: dict[str, Any], *, mmap: bool) -> None:
        index = read_faiss_index(folder / self._FILE)
        if not isinstance(index, faiss.IndexIVFPQ) or index.d != self.dim:
            raise StaleIndexError(f"{str(folder)!r}: {self._FILE} is not an IVFPQ index of dimension {self.dim}")
        self._index = index
        self.nlist_effective = int(index.nlist)
        self.device, self._gpu_index, self._gpu_resources = "cpu", None, None
