"""Descriptors, retrieval pairs and networks in the formats other tools read (``vprkit export``).

- :func:`~vprkit.export.hloc.export_hloc`: an HDF5 file of global descriptors in the layout of
  hloc (one group per image name holding ``global_descriptor``) and a retrieval pairs file per
  query set, ranked by the bundle's own pipeline (classify → retrieve when it has a classifier);
- :func:`~vprkit.export.npy.export_npy`: ``database_descriptors.npy`` and
  ``queries_descriptors.npy``, the files VPR-methods-evaluation saves with ``--save_descriptors``,
  with the image paths of their rows;
- :func:`~vprkit.export.onnx_model.export_onnx`: a retriever's network as an ONNX model, checked
  against onnxruntime before it is kept.

Database descriptors are read from the bundle's store (never extracted again); query descriptors
are extracted with the bundle's retriever in a :class:`vprkit.runtime.Runtime`. Every file is
written whole or not at all, and ``export.json`` (what was exported, from what) is written last.
The submodules import h5py, onnx and onnxruntime only when they run (the ``export`` extra).
"""

from __future__ import annotations

__all__ = ["EXPORT_MANIFEST"]

#: the file every export folder gets last: what was exported, from which bundle or model
EXPORT_MANIFEST = "export.json"
