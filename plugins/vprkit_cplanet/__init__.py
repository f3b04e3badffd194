"""vprkit plugin: CPlaNet (Seo et al., ECCV 2018): combinatorial partitioning of the map into several geoclass sets.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
