"""The rich side of :class:`vprkit.contracts.Progress`: bars on stderr for the library's long work.

:class:`RichProgress` draws one bar per step name (``generating synthcity``, ``database
descriptors``, ``queries``, ``epoch 3 g1``...) with the numeric fields the library reports beside
it (``loss 0.3100``, ``412 img/s``), and prints each note as a line of its own. The library itself
only ever sees the protocol; its default reports nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bars

from vprkit.cli.console import err

if TYPE_CHECKING:  # vprkit.contracts imports NumPy: not at CLI start-up
    from vprkit.contracts import Progress

__all__ = ["RichProgress", "step_progress"]

#: how a field is shown: a label after the value (``412 img/s``) and the digits after the point
_UNITS = {"images_per_s": ("img/s", 0)}


def _shown(fields: dict[str, float]) -> str:
    parts = []
    for name, value in fields.items():
        unit, digits = _UNITS.get(name, (None, 4))
        parts.append(f"{value:.{digits}f} {unit}" if unit else f"{name} {value:.{digits}f}")
    return "  ".join(parts)


class RichProgress:
    """:class:`~vprkit.contracts.Progress` as rich bars on ``console`` (stderr); use it as a
    context manager: the bars are drawn from the first update to the end of the block."""

    def __init__(self, console: Console = err) -> None:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[shown]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self._bars = Bars(*columns, console=console, transient=False)
        self._tasks: dict[str, TaskID] = {}
        self._started = False

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self._bars.stop()
            self._started = False

    def update(self, step: str, done: int, total: int | None, **fields: float) -> None:
        if not self._started:
            self._bars.start()
            self._started = True
        total = total or None  # 0: nothing known to do, drawn as an open-ended bar
        if step not in self._tasks:
            self._tasks[step] = self._bars.add_task(step, total=total, shown="")
        self._bars.update(self._tasks[step], completed=done, total=total, shown=_shown(fields))

    def note(self, text: str) -> None:
        self._bars.console.print(text, highlight=False, markup=False)


@contextmanager
def step_progress(enabled: bool = True) -> Iterator[Progress]:
    """A :class:`RichProgress` on stderr for the duration of the block, or (``enabled=False``:
    ``--json`` or ``--quiet``) a :class:`~vprkit.contracts.NullProgress`."""
    if not enabled:
        from vprkit.contracts import NullProgress

        yield NullProgress()
        return
    with RichProgress() as progress:
        yield progress
