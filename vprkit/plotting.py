"""Pictures the library draws (a prediction's map, a dataset's positions, a synthcity plan).

:func:`png_figure` is the one way to make one: a matplotlib :class:`~matplotlib.figure.Figure`
created directly, not through pyplot, so drawing neither switches nor depends on the global
backend (``matplotlib.use`` is the application's choice, not a library's) and leaves no open
figure behind; the PNG is rendered by the Agg canvas and written atomically
(:func:`vprkit.fileio.atomic_path`), so an interrupted save never leaves half a picture.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vprkit.fileio import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["png_figure"]


@contextmanager
def png_figure(
    png: str | Path, *, figsize: tuple[float, float], dpi: float | None = None, **savefig: Any
) -> Iterator[Figure]:
    """Yield an empty figure to draw on; once the block ends without error, write it to ``png``.

    ``dpi``: the figure's resolution (matplotlib's default when ``None``); ``savefig``: passed on
    to :meth:`Figure.savefig` (``dpi=``, ``bbox_inches="tight"``...). The folder of ``png`` is
    created when missing.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)  # renders this figure whatever backend pyplot uses
    yield fig
    with atomic_path(png, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", **savefig)
