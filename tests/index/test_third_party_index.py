"""A third-party index in the fewest lines (docs/plugins.md, "An index"): exhaustive inner product
with the exact kernels of :mod:`vprkit.index.exact`, registered through a spec, then checked with
the same contract checks vprkit runs over its own indexes, saved and loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import Field

from vprkit import IndexSpec, SpecPlugin, VprkitConfig, create_index
from vprkit.index.base import CandidateRows, DescriptorIndex
from vprkit.index.exact import topk_all, topk_subset


class DotConfig(VprkitConfig):
    kernel: str = Field("numpy", description="'numpy' or 'faiss' (the exact kernels of vprkit.index.exact).")


class DotIndex(DescriptorIndex):
    """Every row in one float32 matrix; validation, padding, CSR checks and index.json come from the base."""

    name = "dot"

    def __init__(self, config: DotConfig | None = None) -> None:
        super().__init__(config or DotConfig())
        self.kernel = (config or DotConfig()).kernel
        self.x = np.zeros((0, 0), np.float32)

    @property
    def ntotal(self) -> int:
        return len(self.x)

    def _build(self, x: np.ndarray) -> None:
        self.x = np.ascontiguousarray(x)

    def _add(self, x: np.ndarray) -> None:
        self.x = np.concatenate([self.x, x])

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return topk_all(q, self.x, k, kernel=self.kernel)

    def _search_rows(self, q: np.ndarray, candidates: CandidateRows, k: int) -> tuple[np.ndarray, np.ndarray]:
        return topk_subset(q, self.x, candidates.padded(), k, kernel=self.kernel)

    def memory_bytes(self) -> int:
        return self.x.nbytes

    def _save_payload(self, folder: Path) -> list[str]:
        np.save(folder / "vectors.npy", self.x)
        return ["vectors.npy"]

    def _load_payload(self, folder: Path, meta: dict[str, Any], *, mmap: bool) -> None:
        self.x = np.load(folder / "vectors.npy", mmap_mode="r" if mmap else None)


PLUGIN = SpecPlugin(
    IndexSpec(name="dot", factory=f"{__name__}:DotIndex", config=DotConfig, description="Exhaustive inner product")
)


@pytest.fixture
def dot_index(install_plugin):
    install_plugin(PLUGIN, "dot_plugin")


def test_a_third_party_index_passes_the_contract_checks(dot_index, tmp_path):
    from vprkit.testing import check_index

    check_index("dot", tmp_path)


def test_a_third_party_index_saves_loads_and_refuses_unknown_options(dot_index, tmp_path):
    from vprkit import ConfigError
    from vprkit.index.base import load_index

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = create_index("dot").build(x)
    scores, rows = index.search_rows(x[[0, 7, 1]], [np.arange(10), np.arange(5, 30), np.array([], np.int64)], 4)
    assert rows[0, 0] == 0 and rows[1, 0] == 7 and (rows[2] == -1).all() and np.isneginf(scores[2]).all()
    loaded = load_index(index.save(tmp_path / "dot"))
    assert type(loaded) is DotIndex and np.array_equal(loaded.search(x[:5], 3)[1], index.search(x[:5], 3)[1])
    with pytest.raises(ConfigError, match="nprobe"):
        create_index("dot", nprobe=4)
