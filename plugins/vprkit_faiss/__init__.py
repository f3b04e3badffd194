"""vprkit plugin: faiss indexes: `flat` (exact inner product) and `ivfpq` (the paper's presets).

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
