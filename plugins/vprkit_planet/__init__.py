"""vprkit plugin: PlaNet (Weyand et al., 2016): a softmax classifier over adaptive S2 cells.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
