"""Dataset formats, readers and checks (METHODS.md §10)."""

from vprkit.data.image_list import ImageList

__all__ = ["ImageList"]
