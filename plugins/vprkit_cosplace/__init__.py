"""vprkit plugin: CosPlace (Berton et al., CVPR 2022): the `cosplace` partitioner (UTM cells × heading bins in N·N·L groups) and the `cosplace` retriever.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""
