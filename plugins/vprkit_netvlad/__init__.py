"""vprkit plugin: NetVLAD (Arandjelović et al., 2016) and GeM retrievers trained with triplet loss and partial mining.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
