"""Dataset formats, readers and checks (docs/datasets/index.md).

Names are imported lazily so that plugins importing e.g. :mod:`vprkit.data.dataset_protocol`
at registration time do not pull in NumPy.

- :mod:`vprkit.data.filenames` — the standard '@' file name: format and parse (millions/s).
- :mod:`vprkit.data.standard` — folders and the ``images/{train,val,test}/...`` layout.
- :mod:`vprkit.data.npy_lists` — GSV-Cities-style ``.npy`` evaluation lists.
- :mod:`vprkit.data.sequences` — Nordland-style sequences positioned by frame index.
- :mod:`vprkit.data.positives` — positives within a radius (CSR).
- :mod:`vprkit.data.cache` — content-keyed cache of parsed lists.
- :mod:`vprkit.data.check` — dataset reports; :mod:`vprkit.data.show` — position maps.
- :mod:`vprkit.data.dataset_protocol` — how ``datasets make/prepare`` call dataset plugins.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ImageList",
    "check_dataset",
    "format_filename",
    "format_filenames",
    "list_splits",
    "load_split",
    "parse_filenames",
    "positives_within",
    "read_folder",
    "read_npy_lists",
    "read_sequence",
]

_WHERE = {
    "ImageList": "vprkit.data.image_list",
    "format_filename": "vprkit.data.filenames",
    "format_filenames": "vprkit.data.filenames",
    "parse_filenames": "vprkit.data.filenames",
    "read_folder": "vprkit.data.standard",
    "load_split": "vprkit.data.standard",
    "list_splits": "vprkit.data.standard",
    "read_npy_lists": "vprkit.data.npy_lists",
    "read_sequence": "vprkit.data.sequences",
    "positives_within": "vprkit.data.positives",
    "check_dataset": "vprkit.data.check",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    try:  # submodules, e.g. ``vprkit.data.image_list`` after a bare ``import vprkit.data``
        return importlib.import_module(f"vprkit.data.{name}")
    except ModuleNotFoundError:
        raise AttributeError(f"module 'vprkit.data' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(__all__)
