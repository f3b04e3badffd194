"""vprkit plugin: Hierarchical Geolocation Estimation (Müller-Budack et al., 2018): three nested S2 partitions with hierarchical scoring.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
