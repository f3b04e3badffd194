"""vprkit plugin: Mapillary Street-Level Sequences (MSLS).

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
