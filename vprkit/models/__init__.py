"""Neural building blocks shared by every method: backbones, pooling, margin heads, public interfaces.

Importing this package imports torch (and timm lazily in :mod:`vprkit.models.backbones`); plugin
registration modules must not import it.
"""
