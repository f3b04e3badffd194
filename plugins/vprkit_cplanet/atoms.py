"""CPlaNet's initial graph (Seo et al., ECCV 2018, §3.3): S2 atoms at a fixed level, nodes and edges.

Non-empty atoms (holding training images) are the nodes. Empty atoms within ``empty_rings`` rings
of the data do not form nodes: each is merged into a random neighbour already attached to a node,
ring by ring (the paper merges every empty cell of the planet into a random non-empty neighbour;
a city only needs the ones around its data). Edges join nodes whose atoms share an S2 edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vprkit.geometry import s2

__all__ = ["AtomGraph", "build_atom_graph"]


@dataclass(frozen=True)
class AtomGraph:
    """Atoms and the node graph over them.

    Attributes:
        atom_ids: ``(A,)`` uint64 every atom (non-empty and attached empty), sorted by id.
        atom_node: ``(A,)`` int64 node of each atom.
        atom_images: ``(A,)`` int64 training images in each atom.
        image_node: ``(n,)`` int64 node of each training image.
        node_images, node_cells, node_nonempty: ``(V,)`` node score factors n_img, n_S2, n_S2+.
        edges: ``(E, 2)`` int64 unique undirected node pairs ``i < j``.
    """

    atom_ids: np.ndarray
    atom_node: np.ndarray
    atom_images: np.ndarray
    image_node: np.ndarray
    node_images: np.ndarray
    node_cells: np.ndarray
    node_nonempty: np.ndarray
    edges: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.node_images)


def _lookup(sorted_ids: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Row of each query id in ``sorted_ids`` ``(…)`` int64, −1 when absent."""
    pos = np.minimum(np.searchsorted(sorted_ids, query), max(len(sorted_ids) - 1, 0))
    found = sorted_ids[pos] == query if len(sorted_ids) else np.zeros(query.shape, dtype=bool)
    return np.where(found, pos, -1)


def build_atom_graph(leaf_ids: np.ndarray, level: int, empty_rings: int, rng: np.random.Generator) -> AtomGraph:
    """The atom graph of training images given by their leaf ids ``(n,)`` uint64."""
    image_atoms = s2.parent_ids(leaf_ids, level)
    node_atoms, image_node, node_images = np.unique(image_atoms, return_inverse=True, return_counts=True)
    image_node = image_node.reshape(-1)
    num_nodes = len(node_atoms)

    # Attach empty rings: host[k] is the node an attached atom belongs to.
    known_ids, known_node = node_atoms, np.arange(num_nodes)
    frontier = node_atoms
    for _ in range(empty_rings):
        neighbours = s2.edge_neighbor_ids(frontier).reshape(-1)
        fresh = np.unique(neighbours[_lookup(known_ids, neighbours) < 0])
        if not len(fresh):
            break
        around = s2.edge_neighbor_ids(fresh)  # (F, 4)
        host_row = _lookup(known_ids, around)
        # Random attached neighbour: highest random key among the valid ones.
        keys = np.where(host_row >= 0, rng.random(host_row.shape), -1.0)
        pick = host_row[np.arange(len(fresh)), np.argmax(keys, axis=1)]
        fresh_node = known_node[pick]
        order = np.argsort(np.concatenate([known_ids, fresh]), kind="stable")
        known_ids = np.concatenate([known_ids, fresh])[order]
        known_node = np.concatenate([known_node, fresh_node])[order]
        frontier = fresh
    atom_ids, atom_node = known_ids, known_node
    atom_images = np.zeros(len(atom_ids), dtype=np.int64)
    atom_images[_lookup(atom_ids, node_atoms)] = node_images

    # Edges between nodes of edge-adjacent atoms.
    neighbour_rows = _lookup(atom_ids, s2.edge_neighbor_ids(atom_ids))  # (A, 4)
    src = np.repeat(atom_node, 4)
    dst = np.where(neighbour_rows >= 0, atom_node[np.maximum(neighbour_rows, 0)], -1).reshape(-1)
    ok = (dst >= 0) & (dst != src)
    pairs = np.sort(np.stack([src[ok], dst[ok]], axis=1), axis=1)
    edges = np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), dtype=np.int64)

    return AtomGraph(
        atom_ids=atom_ids,
        atom_node=atom_node.astype(np.int64),
        atom_images=atom_images,
        image_node=image_node.astype(np.int64),
        node_images=node_images.astype(np.int64),
        node_cells=np.bincount(atom_node, minlength=num_nodes).astype(np.int64),
        node_nonempty=np.ones(num_nodes, dtype=np.int64),
        edges=edges.astype(np.int64),
    )
