"""Clustered synthetic descriptors shared by the index tests (a helper module, not a test)."""

from __future__ import annotations

import numpy as np


def clustered_descriptors(
    n: int, dim: int, n_cells: int, *, seed: int = 0, spread: float = 0.35, tail: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` L2-normalised float32 descriptors around ``n_cells`` random centres.

    Returns (descriptors (n, dim), cells (n,) int64); the last ``tail`` rows get cell -1.
    Rows are shuffled so a cell's rows are not contiguous in database order.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_cells, dim)).astype(np.float32)
    cells = rng.integers(0, n_cells, n)
    x = centres[cells] + spread * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cells = cells.astype(np.int64)
    if tail:
        cells[-tail:] = -1
    return x.astype(np.float32), cells


def unit_queries(x: np.ndarray, n: int, *, seed: int = 1, noise: float = 0.3) -> np.ndarray:
    """Queries near random database rows, L2-normalised, (n, dim) float32."""
    rng = np.random.default_rng(seed)
    q = x[rng.integers(0, len(x), n)] + noise * rng.standard_normal((n, x.shape[1])).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def assert_same_topk(scores, rows, ref_scores, ref_rows, atol=1e-5):
    """Equal scores; equal rows wherever a score is not tied (within ``atol``) with a neighbour."""
    np.testing.assert_allclose(scores, ref_scores, atol=atol)
    assert (np.isfinite(scores) == np.isfinite(ref_scores)).all()
    with np.errstate(invalid="ignore"):  # -inf - -inf in the padding: nan, i.e. "tied", not compared
        gaps = np.diff(ref_scores, axis=1)
    untied = np.ones_like(ref_rows, dtype=bool)
    untied[:, 1:] &= np.abs(gaps) > atol
    untied[:, :-1] &= np.abs(gaps) > atol
    assert (rows[untied] == ref_rows[untied]).all()
