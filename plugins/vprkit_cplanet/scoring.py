"""NormalizedSum (Seo et al., ECCV 2018, eq. 3): combine the geoclass sets' probabilities into region scores.

Each set's probability of a geoclass is spread evenly over the geoclass's atoms and normalised so
that the set's atom scores sum to one; an atom's score is the sum over sets. Atoms with the same
geoclass tuple (one combinatorial region) get the same score, so scoring the R regions directly is
exact and cheaper than scoring atoms. Works on NumPy arrays and on torch tensors alike (only
division, column gathers and sums are used).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vprkit.partition import Partition

__all__ = ["normalized_sum"]


def normalized_sum(set_probs: Sequence[Any], partition: Partition) -> Any:
    """Region scores ``(Q, R)`` from per-set class probabilities.

    Args:
        set_probs: one ``(Q, G_k)`` array per geoclass set, in the order of ``partition.children``
            (softmax outputs; any non-negative scores work).
        partition: a ``cplanet`` Partition (its ``hierarchy`` maps regions to geoclasses and each
            child's ``extras["atoms_per_class"]`` counts atoms per geoclass).

    Returns:
        ``(Q, R)`` scores; rank regions by them (top-1 = predicted region, coordinate =
        ``partition.class_coords``).
    """
    children = list(partition.children.values())
    if len(set_probs) != len(children):
        raise ValueError(f"normalized_sum: got {len(set_probs)} probability arrays for {len(children)} geoclass sets")
    total = None
    for k, (probs, child) in enumerate(zip(set_probs, children)):
        if partition.hierarchy is None:
            raise ValueError(
                "normalized_sum: the partition has no hierarchy (regions → geoclasses); not a cplanet partition"
            )
        atoms = np.asarray(child.extras["atoms_per_class"], dtype=np.float64)
        cols = np.asarray(partition.hierarchy[:, k])
        if type(probs).__module__.startswith("torch"):  # keep device and dtype; torch imported by the caller
            atoms = probs.new_tensor(atoms)
            cols = probs.new_tensor(cols).long()
        per_atom = probs / atoms  # a geoclass's probability spread evenly over its atoms
        per_atom = per_atom / probs.sum(-1)[..., None]  # each set's atom scores sum to one
        term = per_atom[..., cols]
        total = term if total is None else total + term
    return total
