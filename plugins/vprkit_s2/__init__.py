"""vprkit plugin: Adaptive S2 partitions (PlaNet/HGE/MvMF procedure): the `s2` partitioner shared by PlaNet, HGE and MvMF.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
