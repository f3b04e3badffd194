"""vprkit plugin: San Francisco eXtra Large (SF-XL), the city-scale dataset of CosPlace and D&C.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
