"""vprkit plugin: Divide&Classify (Trivigno, Berton et al., ICCV 2023): the `dnc` partitioner (square UTM cells in N×N groups) and the `dnc` AAMC classifier.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
