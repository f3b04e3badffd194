"""vprkit plugin: MvMF: a mixture of von Mises–Fisher distributions over S2 cells, in its Gaussian city-scale limit.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
